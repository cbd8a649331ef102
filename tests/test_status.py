"""``devstack status`` and ``ports`` as a user reads them, and what ``up -d`` says when a service fails:
a signal by its name, restarts asked for apart from crash restarts, every finding of a service, and
the same ``HH:MM:SS name | line`` form as everything else. The real command."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from conftest import wait_for
from helpers.stack import Stack, run_devstack, write_config

HTTP = f"{sys.executable} -m http.server ${{PORT}} --bind 127.0.0.1"
# ignores PORT and binds every interface: two findings, about two different ports
WILD = (f"{sys.executable} -c \"import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 0)); "
        "s.listen(); time.sleep(60)\"")


def _status(project: Path) -> dict[str, dict[str, object]]:
    out = run_devstack(["status", "--json"], project)
    assert out.returncode == 0, out
    return {s["name"]: s for s in json.loads(out.stdout)["services"]}


def _row(project: Path, name: str) -> dict[str, str]:
    out = run_devstack(["status"], project)
    assert out.returncode == 0, out
    header, *rows = out.stdout.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    line = next(r for r in rows if r.split()[0] == name)
    cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return dict(zip(header.split(), cells, strict=True))


def test_status_names_the_signal_and_counts_reloads_apart(project: Path) -> None:
    marker = project / "crashed"
    write_config(project, {
        "api": {"cmd": HTTP},
        "killed": {"cmd": "kill -TERM $$$$", "restart": "no", "port": False},
        # crashes once, then runs
        "flaky": {"cmd": f"test -e {marker} || {{ touch {marker}; exit 1; }}; exec sleep 60",
                  "port": False},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"ready in", timeout=20)
        assert run_devstack(["restart", "api"], project).returncode == 0
        wait_for(lambda: _status(project)["flaky"]["state"] == "running", message="flaky running")
        status = _status(project)
        assert status["killed"]["exit_code"] == -15
        assert _row(project, "killed")["EXIT"] == "SIGTERM"
        # the JSON keeps "restarts" as every restart; "reloads" are those asked for
        assert (status["api"]["restarts"], status["api"]["reloads"]) == (1, 1)
        assert (status["flaky"]["restarts"], status["flaky"]["reloads"]) == (1, 0)
        assert (_row(project, "api")["RESTARTS"], _row(project, "api")["RELOADS"]) == ("0", "1")
        assert (_row(project, "flaky")["RESTARTS"], _row(project, "flaky")["RELOADS"]) == ("1", "0")


def test_every_finding_is_shown_in_ports_and_status(project: Path) -> None:
    write_config(project, {"wild": {"cmd": WILD}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"wild listens on \d+, not on its PORT", timeout=20)
        stack.wait_for_line(r"wild listens on 0\.0\.0\.0 port \d+, reachable from the network")
        kinds = {f["kind"] for f in _status(project)["wild"]["findings"]}
        assert kinds == {"ignored_port", "exposed"}
        ports = run_devstack(["ports"], project).stdout
        assert "not on its PORT" in ports and "reachable from the network" in ports, ports
        note = _row(project, "wild")["NOTE"]
        assert "not on its PORT" in note and "reachable from the network" in note, note


def test_up_detached_failure_in_the_streams_form_with_the_finding(project: Path) -> None:
    write_config(project, {"web": {"cmd": f"echo starting up; {WILD}",
                                   "health": {"http": "/", "start_period": "1s", "retries": 1,
                                              "start_interval": "50ms"}}})
    try:
        up = run_devstack(["up", "-d"], project, timeout=40)
    finally:
        assert run_devstack(["down"], project).returncode == 0
    assert up.returncode == 1, up
    assert "web never became healthy" in up.stderr
    assert re.search(r"^  web listens on \d+, not on its PORT \d+", up.stderr, re.MULTILINE), up.stderr
    assert re.search(r"^\d\d:\d\d:\d\d web +\| starting up$", up.stderr, re.MULTILINE), up.stderr
    assert re.search(r"^\d\d:\d\d:\d\d devstack +\| devstack: web started", up.stderr, re.MULTILINE) or \
        re.search(r"^\d\d:\d\d:\d\d web +\| devstack: web started", up.stderr, re.MULTILINE), up.stderr
