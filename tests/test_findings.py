"""What devstack finds about a service's ports, told with the fix, through the real command: a service
that never listens is running (with the finding naming ``port = false``), not failed a minute later; the
same in Procfile mode and in the devstack.toml ``devstack init`` writes from that Procfile; and the fix
for a port ignored is the one of the tool that runs."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from helpers.stack import Stack, run_devstack, write_config

# a server that ignores PORT: it listens on a port of its own choosing
_OWN_PORT = ("import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
             "print('listening', s.getsockname()[1], flush=True)\ntime.sleep(60)\n")


def _ports(project: Path) -> dict[str, dict[str, object]]:
    out = run_devstack(["ports", "--json"], project)
    assert out.returncode == 0, out
    return {s["name"]: s for s in json.loads(out.stdout)["services"]}


def test_a_service_that_never_listens_is_running_with_the_fix(project: Path) -> None:
    write_config(project, {"worker": {"cmd": "sleep 60"}})
    began = time.monotonic()
    try:
        up = run_devstack(["up", "-d"], project, timeout=40)
        took = time.monotonic() - began
        assert up.returncode == 0, up
        assert took < 20, took  # not start_period (60 s) and its retries
        worker = _ports(project)["worker"]
        assert worker["state"] == "running"
        [finding] = worker["findings"]
        assert finding["kind"] == "not_listening"
        assert "set port = false if it serves nothing" in finding["message"]
        assert "set port = false" in up.stdout  # the table up -d prints shows it
    finally:
        assert run_devstack(["down"], project).returncode == 0


def _states(project: Path) -> dict[str, tuple[str, bool]]:
    """Each service's state, and whether it has a port."""
    return {n: (str(s["state"]), bool(s["ports"])) for n, s in _ports(project).items()}


def test_procfile_mode_and_the_file_init_writes_run_alike(project: Path) -> None:
    (project / "Procfile").write_text(
        f"web: {sys.executable} -m http.server $PORT --bind 127.0.0.1\n"
        "worker: sleep 60\n"
        "api: sleep 60 # would use $PORT\n")
    runs = []
    for mode in ("Procfile", "devstack.toml"):
        if mode == "devstack.toml":
            assert run_devstack(["init"], project).returncode == 0
        began = time.monotonic()
        try:
            up = run_devstack(["up", "-d"], project, timeout=40)
            assert up.returncode == 0, up
            runs.append((_states(project), time.monotonic() - began < 20))
        finally:
            assert run_devstack(["down"], project).returncode == 0
    assert runs[0] == runs[1], runs
    states, quick = runs[0]
    assert states == {"web": ("healthy", True), "worker": ("running", False), "api": ("running", True)}
    assert quick


def test_the_fix_named_is_the_running_tools(project: Path) -> None:
    """npm runs a script that runs vite: the fix goes through npm, with vite's --strictPort; a Django
    runserver gets HOST:PORT."""
    bin_dir = project / "bin"
    bin_dir.mkdir()
    vite = bin_dir / "vite"
    vite.write_text(f"#!{sys.executable}\n{_OWN_PORT}")
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\nimport os, sys\nos.execv({str(vite)!r}, [{str(vite)!r}])\n")
    (project / "manage.py").write_text(_OWN_PORT)
    for script in (vite, npm):
        script.chmod(0o755)
    write_config(project, {
        "web": {"cmd": "npm run dev"},
        "api": {"cmd": f"{sys.executable} manage.py runserver"},
    })
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("NO_COLOR", None)
    with Stack(project, "up", "--no-timestamps", env=env) as stack:
        stack.wait_for_line(r"web listens on \d+, not on its PORT \d+: pass it through npm: "
                            r"npm run dev -- --port \$\{PORT\} --strictPort$")
        stack.wait_for_line(r"api listens on \d+, not on its PORT \d+: pass the address to runserver: "
                            r"manage.py runserver \$\{HOST\}:\$\{PORT\}$")
