"""Hot reload, end to end: the real ``devstack up`` watching real files, restarting real HTTP servers.

"No restart happened" is never proved by waiting a while: after the change that must not restart a
service, a file of the sentinel service ``flag`` is changed, and once ``flag`` has restarted and is
running again, everything the watcher saw before has been acted on."""

from __future__ import annotations

import os
import re
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from conftest import wait_for
from helpers.stack import Stack, alive, run_devstack

from devstack.control.client import request

# A stdlib HTTP server on $PORT that answers GET / with its VERSION. It starts a child (`sleep`) in its
# process group; on SIGTERM it waits $TERM_DELAY seconds, then for the child, and says how the child
# ended ("-15" only if the SIGTERM went to the whole group), also in ../stopped, outside what is watched.
APP = '''\
import http.server, os, signal, subprocess, time
VERSION = "{version}"
child = subprocess.Popen(["sleep", "60"])
def term(*_):
    time.sleep(float(os.environ.get("TERM_DELAY", "0")))
    said = f"got SIGTERM version={{VERSION}} child={{child.wait()}}"
    with open("../stopped", "a") as f:
        f.write(said + "\\n")
    print(said, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(VERSION.encode())
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print(f"ready pid={{os.getpid()}} child={{child.pid}} version={{VERSION}}", flush=True)
server.serve_forever()
'''
SLEEP = (f"{sys.executable} -c \"import os, time; print(f'ready pid={{os.getpid()}}', flush=True); "
         "time.sleep(60)\"")
FAST = {"http": "/", "start_interval": "50ms", "interval": "1s", "timeout": "1s"}
API = {"cmd": f"{sys.executable} app.py", "cwd": "api", "watch": True, "health": FAST}
FLAG = {"cmd": SLEEP, "cwd": "flag", "watch": True, "port": False}
OTHER = {"cmd": SLEEP, "port": False}


def setup(project: Path, services: dict[str, dict[str, Any]], **settings: Any) -> None:
    for name in ("api", "flag"):
        (project / name).mkdir(exist_ok=True)
    write_app(project / "api" / "app.py", "1")
    data: dict[str, Any] = {"services": services}
    if settings:
        data["devstack"] = settings
    (project / "devstack.toml").write_text(tomli_w.dumps(data))


def write_app(path: Path, version: str) -> None:
    path.write_text(APP.format(version=version))


def ready(stack: Stack, name: str, count: int) -> list[int]:
    """The pids of the first ``count`` instances of ``name`` that said they were ready."""
    return stack.pids(count, rf"(?m)^{name}\s+\| ready pid=(\d+)")


def restarts(stack: Stack, name: str) -> list[str]:
    """What each "NAME restarting: ..." line gave as the reason."""
    return re.findall(rf"(?m)^devstack \| {name} restarting: (.*)$", stack.output)


def ports(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / ".devstack" / "ports.toml").read_text())


def get(port: int) -> str:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{port}/", timeout=5) as resp:
        return resp.read().decode()


def status(project: Path) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in request(project / ".devstack", "GET", "/status")["services"]}


def settle(stack: Stack, project: Path) -> None:
    """Change a file of ``flag`` and wait until its new instance runs: every change made before has been
    seen and acted on by then."""
    before = len(restarts(stack, "flag"))
    (project / "flag" / "trigger").write_text(str(before))
    ready(stack, "flag", before + 2)
    assert len(restarts(stack, "flag")) == before + 1


def test_a_write_restarts_the_service_once_gracefully_on_the_same_port(project: Path) -> None:
    setup(project, {"api": API, "flag": FLAG, "other": OTHER})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        started = stack.started("api", "other")
        api, other = ready(stack, "api", 1)[0], ready(stack, "other", 1)[0]
        child = int(stack.wait_for_line(r"api\s+\| ready .* child=(\d+)").group(1))
        port = ports(project)["api"]["port"]
        assert get(port) == "1"
        write_app(project / "api" / "app.py", "2")  # in place: truncate and write
        stack.wait_for_line(r"devstack \| api restarted, healthy in \d+\.\d+ s$")
        assert get(port) == "2"
        settle(stack, project)
        assert restarts(stack, "api") == ["app.py changed"]
        # graceful: SIGTERM to the whole process group (the child too), then the new instance
        assert (project / "stopped").read_text() == "got SIGTERM version=1 child=-15\n"
        assert not alive(api) and not alive(child)
        assert "SIGKILL" not in stack.output
        assert ready(stack, "other", 1) == [other] and alive(other)
        assert status(project)["other"]["pid"] == started["other"]
        assert ports(project)["api"]["port"] == port == status(project)["api"]["ports"]["port"]


def test_an_atomic_save_and_a_delete_each_restart_once(project: Path) -> None:
    setup(project, {"api": API, "flag": FLAG})
    (project / "api" / "helper.py").write_text("x = 1\n")
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        port = ports(project)["api"]["port"]
        # an editor's safe save: write a temporary file, then rename it over the original
        tmp = project / "api" / ".app.py.swx-save"
        write_app(tmp, "2")
        os.replace(tmp, project / "api" / "app.py")
        stack.wait_for_line(r"devstack \| api restarted, healthy in")
        assert get(port) == "2"
        (project / "api" / "helper.py").unlink()
        wait_for(lambda: len(restarts(stack, "api")) == 2, message=f"a second restart:\n{stack.output}")
        ready(stack, "api", 3)
        settle(stack, project)
        assert restarts(stack, "api") == ["app.py changed", "helper.py changed"]
        assert get(port) == "2"


def test_a_storm_of_500_files_gives_one_restart(project: Path) -> None:
    setup(project, {"api": API, "flag": FLAG})
    (project / "api" / "pkg").mkdir()
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        for i in range(500):
            (project / "api" / "pkg" / f"m{i:03d}.py").write_text(f"v = {i}\n")
        stack.wait_for_line(r"devstack \| api restarted, healthy in")
        settle(stack, project)
        assert restarts(stack, "api") == ["pkg/m000.py and 499 more changed"]


def test_ignored_and_gitignored_paths_restart_nothing(project: Path) -> None:
    setup(project, {"api": {**API, "ignore": ["*.log", "cache/"]}, "flag": FLAG})
    (project / ".gitignore").write_text("generated/\n*.tmp\n")
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        api = project / "api"
        for rel in ("app.log", "cache/x.py", "generated/y.py", "z.tmp", "__pycache__/app.cpython.pyc",
                    "node_modules/m/index.js", ".venv/lib/site.py", "dist/app.js", ".devstack/x",
                    "4913", "app.py~", "app.py___jb_tmp___", "#app.py#"):
            (api / rel).parent.mkdir(parents=True, exist_ok=True)
            (api / rel).write_text("x")
        settle(stack, project)
        assert restarts(stack, "api") == []
        # and the sentinel is no false friend: a file that is watched does restart api
        (api / "kept.py").write_text("x")
        stack.wait_for_line(r"devstack \| api restarting: kept\.py changed$")


def test_a_change_during_a_restart_gives_exactly_one_more(project: Path) -> None:
    setup(project, {"api": {**API, "env": {"TERM_DELAY": "0.5"}}, "flag": FLAG})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        (project / "api" / "a.py").write_text("a")
        stack.wait_for_line(r"devstack \| api restarting: a\.py changed$")
        for name in ("b.py", "c.py", "d.py"):  # while the old instance takes its time to stop
            (project / "api" / name).write_text(name)
        ready(stack, "api", 3)
        settle(stack, project)
        assert restarts(stack, "api") == ["a.py changed", "b.py and 2 more changed"]


@pytest.mark.parametrize("policy", ["no", "on-failure"])
def test_a_crashed_watched_service_restarts_on_the_next_change_at_once(project: Path, policy: str) -> None:
    # on-failure would wait 30 s before its next try: the change must not wait for that
    setup(project, {"api": {**API, "restart": policy}}, restart_backoff=30)
    (project / "api" / "app.py").write_text("raise SystemExit(3)\n")
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api exited with code 3$")
        if policy == "no":
            stack.wait_for_line(r"devstack \| api will start again when its files change$")
        else:
            stack.wait_for_line(r"devstack \| api restarting in 30 s")
        write_app(project / "api" / "app.py", "2")
        again = "starting again" if policy == "no" else "restarting"
        stack.wait_for_line(rf"devstack \| api {again}: app\.py changed$", timeout=5)
        stack.wait_for_line(r"devstack \| api restarted, healthy in", timeout=5)
        assert get(ports(project)["api"]["port"]) == "2"
        assert status(project)["api"]["restarts"] == 1


def test_restart_dependents_restarts_them_after_it_and_nothing_else(project: Path) -> None:
    db = {**API, "cwd": "db", "restart_dependents": True}
    setup(project, {
        "db": db,
        "api": {"cmd": SLEEP, "port": False, "depends_on": {"db": "healthy"}},
        "web": {"cmd": SLEEP, "port": False, "depends_on": ["api"]},
        "other": OTHER,
        "flag": FLAG,
    })
    (project / "db").mkdir()
    write_app(project / "db" / "app.py", "1")
    with Stack(project, "up", "--no-timestamps") as stack:
        other = ready(stack, "other", 1)[0]
        ready(stack, "web", 1)
        before = ports(project)
        (project / "db" / "schema.sql").write_text("create table t ();")
        ready(stack, "web", 2)
        settle(stack, project)
        out = stack.output
        assert restarts(stack, "db") == ["schema.sql changed"]
        assert restarts(stack, "api") == ["db, which it depends on, restarted"]
        assert restarts(stack, "web") == ["db, which it depends on, restarted"]
        assert out.index("db restarted, healthy in") < out.index("api restarting") < out.index(
            "web restarting")
        assert ready(stack, "other", 1) == [other] and alive(other)
        assert ports(project) == before


def test_a_service_writing_into_its_own_tree_is_paused_with_a_warning(project: Path) -> None:
    setup(project, {"api": {"cmd": f"date +%N >> out.txt; exec {SLEEP}", "cwd": "api", "watch": True,
                            "port": False},
                    "flag": FLAG})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api restarted more than 10 times in 10 s because of its own "
                            r"changes, watching it is paused; keeps changing: out\.txt\. Add what it "
                            r"writes to its `ignore`", timeout=20)
        count = len(restarts(stack, "api"))
        settle(stack, project)
        assert len(restarts(stack, "api")) == count == 10
        # a restart by hand watches it again: its own write then restarts it once more by change
        assert run_devstack(["restart", "api"], project).returncode == 0
        wait_for(lambda: "out.txt changed" in restarts(stack, "api")[count + 1:], timeout=20,
                 message="a restart by change after devstack restart")


def test_no_watch_turns_watching_off(project: Path) -> None:
    setup(project, {"api": {"cmd": "echo done", "cwd": "api", "watch": True, "restart": "no",
                            "port": False}})
    out = run_devstack(["up", "--no-watch", "--no-timestamps"], project)
    # watched, it would wait for a change; unwatched, the stack ends with its only service
    assert out.returncode == 0, out
    assert "api exited with code 0" in out.stdout and "all services have ended" in out.stdout
    assert "will start again" not in out.stdout


def test_a_watch_path_that_does_not_exist_is_a_config_error(project: Path) -> None:
    setup(project, {"api": {**API, "watch": ["app.py", "nope"]}})
    out = run_devstack(["up"], project)
    assert out.returncode == 2, out
    assert "services.api.watch: watch path not found: nope" in out.stderr
    assert "app.py" not in out.stderr and "Traceback" not in out.stderr
