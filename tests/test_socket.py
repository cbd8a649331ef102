"""Socket activation (``socket = true``) and ``reload = "overlap"``, end to end: the real ``devstack up``,
real servers on the socket devstack holds, a real client sending requests without pause while the
service is reloaded by file changes."""

from __future__ import annotations

import re
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from conftest import python, wait_for
from helpers.load import Client
from helpers.stack import Stack, run_devstack

from devstack.control.client import request

# A stdlib HTTP server answering GET / with its VERSION. With LISTEN_FDS it serves the socket at fd 3
# (LISTEN_PID must be its pid), else it binds $PORT itself. On SIGTERM it stops accepting, answers the
# request in hand, and exits: a graceful stop.
APP = '''\
import http.server, os, signal, socket, threading
VERSION = "{version}"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = VERSION.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
if os.environ.get("LISTEN_FDS"):
    assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not mine"
    server = http.server.HTTPServer(("", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=3)
    server.socket.setblocking(False)  # beside another instance, losing the race must not block accept
else:
    server = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"ready pid={{os.getpid()}} version={{VERSION}}", flush=True)
server.serve_forever(poll_interval=0.02)
'''
FAST = {"http": "/", "start_interval": "20ms", "interval": "1s", "timeout": "1s"}
RELOADS = 3
# the probe of a fd: what kind of socket it is, and where it listens
SHOW_FD3 = ("import os, socket, sys\n"
            "s = socket.socket(fileno=3)\n"
            "print('FD', ' '.join(sys.argv[1:]), os.environ.get('LISTEN_FDS'), os.environ.get('LISTEN_PID'),"
            " os.getpid(), os.environ.get('LISTEN_FDNAMES'), s.getsockname()[1],"
            " s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), flush=True)\n"
            "s.detach()\n"
            "import time; time.sleep(60)\n")


def setup(project: Path, **service: Any) -> None:
    (project / "app").mkdir()
    (project / "app" / "app.py").write_text(APP.format(version="1"))
    web = {"cmd": [sys.executable, "app.py"], "cwd": "app", "watch": True, "health": FAST, **service}
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {"web": web}}))


def port_of(project: Path) -> int:
    return int(tomllib.loads((project / ".devstack" / "ports.toml").read_text())["web"]["port"])


def status(project: Path) -> dict[str, Any]:
    services = request(project / ".devstack", "GET", "/status")["services"]
    return next(s for s in services if s["name"] == "web")


def reload_under_load(project: Path, reloads: int = RELOADS) -> Client:
    """Start the stack, send requests without pause while ``reloads`` changes each restart the service
    (each waited for until the new version answers), then stop; the client's record."""
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| web healthy in")
        client = Client(port_of(project))
        try:
            client.wait_for_version("1")
            for i in range(2, reloads + 2):
                (project / "app" / "app.py").write_text(APP.format(version=i))
                client.wait_for_version(str(i))
                stack.pids(i, r"(?m)^web\s+\| ready pid=(\d+)")
                wait_for(lambda n=i - 1: stack.output.count("devstack | web restarted, healthy in") >= n,
                         message=f"restart {i - 1} to be ready:\n{stack.output}")
        finally:
            client.stop()
        out = stack.output
        assert len(re.findall(r"devstack \| web restarting: app\.py changed", out)) == reloads, out
        # nothing told off: the service's processes hold the socket devstack passed, on its port
        assert "listen" not in "\n".join(re.findall(r"(?m)^devstack \| .*$", out)), out
        assert status(project)["findings"] == []
        assert status(project)["listening"] == {str(port_of(project)): ["127.0.0.1"]}
    assert len(client.latencies) > 100, "the client hardly sent anything"
    print(f"\n{len(client.latencies)} answered, {len(client.failures)} failed", file=sys.stderr)
    return client


@pytest.mark.parametrize("reload", ["restart", "overlap"])
def test_no_request_fails_across_reloads_with_the_socket(project: Path, reload: str) -> None:
    setup(project, socket=True, reload=reload)
    client = reload_under_load(project)
    assert client.failures == [], f"{len(client.failures)} requests failed: {set(client.failures)}"


def test_without_the_socket_requests_are_refused_while_it_restarts(project: Path) -> None:
    setup(project)
    client = reload_under_load(project, reloads=3)
    # stop, then start: the port is closed from the old server's exit until the new one binds
    assert len(client.failures) > 0
    assert "ConnectionRefusedError" in client.failures


def test_overlap_serves_from_the_old_instance_until_the_new_one_is_ready(project: Path) -> None:
    # the new version takes a second to start listening: meanwhile every answer is the old version's
    slow = APP.replace("if os.environ.get", "import time; time.sleep(float(os.environ.get('SLOW', 0)))\n"
                       "if os.environ.get", 1)
    setup(project, socket=True, reload="overlap")
    (project / "app" / "app.py").write_text(slow.format(version="1"))
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| web healthy in")
        client = Client(port_of(project))
        try:
            client.wait_for_version("1")
            (project / "app" / "app.py").write_text(slow.format(version="2").replace(
                "float(os.environ.get('SLOW', 0))", "1.0"))
            stack.wait_for_line(r"devstack \| web restarting: app\.py changed \(overlap: pid \d+ serves")
            started = time.monotonic()
            client.wait_for_version("2")
            took = time.monotonic() - started
            old, new = stack.pids(2, r"(?m)^web\s+\| ready pid=(\d+)")
            stack.wait_for_line(r"devstack \| web restarted, healthy in")
        finally:
            client.stop()
        assert took >= 0.9, "the new version answered before it could have been ready"
        assert client.failures == []
        assert status(project)["pid"] == new != old


def test_the_socket_and_listen_variables_reach_the_command(project: Path) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {
        "arr": {"cmd": [*python(SHOW_FD3), "fd=${FD}"], "socket": True},
        "str": {"cmd": f"{sys.executable} -c {shlex.quote(SHOW_FD3)} fd=${{FD}}", "socket": True},
        "compound": {"cmd": f"cd . && exec {sys.executable} -c {shlex.quote(SHOW_FD3)} fd=${{FD}}",
                     "socket": True},
    }}))
    with Stack(project, "up", "--no-timestamps") as stack:
        shown = re.compile(r"(?m)^(\w+)\s+\| FD (.*)$")
        wait_for(lambda: len(shown.findall(stack.output)) == 3, message=f"3 FD lines:\n{stack.output}")
        lines = {name: rest.split() for name, rest in shown.findall(stack.output)}
        ports = tomllib.loads((project / ".devstack" / "ports.toml").read_text())
        for name in ("arr", "str", "compound"):
            arg, fds, listen_pid, pid, fdnames, port, accepting = lines[name]
            assert (arg, fds, fdnames, accepting) == ("fd=3", "1", name, "1")
            assert listen_pid == pid, f"{name}: LISTEN_PID {listen_pid} is not the command's pid {pid}"
            assert int(port) == ports[name]["port"]
        env = run_devstack(["env", "arr"], project).stdout
        assert "LISTEN_FDS=1" in env and "LISTEN_FDNAMES=arr" in env


def test_a_service_that_ignores_its_socket_is_told_so(project: Path) -> None:
    # it closes fd 3 and listens on a port of its own choosing
    ignores = python("import os, socket, time\nos.close(3)\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\n"
                     "s.listen()\nprint('ready', s.getsockname()[1], flush=True)\ntime.sleep(60)\n")
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {"web": {
        "cmd": ignores, "socket": True, "health": {"tcp": True, "timeout": "300ms", "start_period": "1s",
                                                   "retries": 1}}}}))
    with Stack(project, "up", "--no-timestamps") as stack:
        other = stack.wait_for_line(r"web\s+\| ready (\d+)").group(1)
        stack.wait_for_line(r"devstack \| web never became healthy: no process of the service accepted a "
                            r"connection on 127\.0\.0\.1:\d+ within 0\.3 s")
        stack.wait_for_line(rf"devstack \| web listens on {other}, not on its PORT {port_of(project)}")


@pytest.mark.parametrize(("service", "message"), [
    ({"cmd": "x", "port": False, "socket": True},
     "services.web.socket: socket = true needs the service's main port, and it has port = false"),
    ({"cmd": "x", "socket": "yes"}, "services.web.socket: expected true or false"),
    ({"cmd": "x", "reload": "overlap"}, 'services.web.reload: reload = "overlap" needs socket = true'),
    ({"cmd": "x", "socket": True, "reload": "overlap", "health": False},
     'reload = "overlap" needs an http or tcp health check'),
    ({"cmd": "x", "reload": "graceful"}, 'services.web.reload: expected "restart"'),
    ({"cmd": "uvicorn --fd ${FD}"}, "services.web.cmd: ${FD} is the socket devstack listens on"),
])
def test_socket_and_reload_config_errors(project: Path, service: dict[str, Any], message: str) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {"web": service}}))
    out = run_devstack(["check"], project)
    assert out.returncode == 2, out
    assert message in out.stderr, out.stderr
