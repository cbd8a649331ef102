"""Health checks and dependency order, end to end: the real ``devstack up`` with real HTTP servers, real
health probes and real signals. Durations are small so that each test takes a few seconds."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import Any

import tomli_w
from conftest import wait_for
from helpers.stack import Stack, alive, clean_env, run_devstack

from devstack.control.client import request

# A threaded stdlib HTTP server on $PORT. It waits $DELAY seconds before it listens. GET /healthz answers
# as the file health/<service> says: absent: 200; "500": 500; "hang": never; "500 PID": 500 from that
# process only (its successor is healthy). On SIGTERM it prints "<service> got SIGTERM", waits
# $TERM_DELAY seconds (so that a wrong stop order would show) and exits.
SERVER = '''\
import http.server, os, signal, sys, time
name = os.environ["DEVSTACK_SERVICE"]
def term(*_):
    print(f"{name} got SIGTERM", flush=True)
    time.sleep(float(os.environ.get("TERM_DELAY", "0")))
    os._exit(0)
signal.signal(signal.SIGTERM, term)
time.sleep(float(os.environ.get("DELAY", "0")))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            words = open(os.path.join("health", name)).read().split()
        except OSError:
            words = []
        mine = len(words) == 1 or len(words) == 2 and int(words[1]) == os.getpid()
        if words and mine and words[0] == "hang":
            time.sleep(30)
        code = int(words[0]) if words and mine else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
print(f"ready pid={os.getpid()}", flush=True)
server.serve_forever()
'''
SERVE = f"{sys.executable} server.py"
# a service without a port that reports SIGTERM like the server does
SLEEP = (f"{sys.executable} -c \"import os, signal, sys, time; n = os.environ['DEVSTACK_SERVICE']; "
         "signal.signal(signal.SIGTERM, lambda *a: (print(n, 'got SIGTERM', flush=True), "
         "time.sleep(float(os.environ.get('TERM_DELAY', '0'))), os._exit(0))); "
         "print(f'ready pid={os.getpid()}', flush=True); time.sleep(60)\"")
FAST = {"start_interval": "50ms", "interval": "100ms", "timeout": "500ms", "retries": 2}


def setup(project: Path, services: dict[str, dict[str, Any]], **settings: Any) -> None:
    (project / "server.py").write_text(SERVER)
    (project / "health").mkdir()
    data: dict[str, Any] = {"services": services}
    if settings:
        data["devstack"] = settings
    (project / "devstack.toml").write_text(tomli_w.dumps(data))


def http(path: str = "/healthz", **keys: Any) -> dict[str, Any]:
    return {"http": path, **FAST, **keys}


def set_health(project: Path, name: str, text: str | None) -> None:
    path = project / "health" / name
    if text is None:
        path.unlink()
    else:
        (project / "health" / f".{name}").write_text(text)
        (project / "health" / f".{name}").replace(path)  # never half-written


def status(project: Path) -> dict[str, dict[str, Any]]:
    """What ``devstack status --json`` shows, asked over the control socket from this process (a
    ``devstack`` command costs a second of imports)."""
    return {s["name"]: s for s in request(project / ".devstack", "GET", "/status")["services"]}


def ready_pids(stack: Stack, name: str, count: int) -> list[int]:
    """The pids of the first ``count`` instances of ``name`` that said they were ready."""
    return stack.pids(count, rf"(?m)^{name}\s+\| ready pid=(\d+)$")


def test_a_dependent_waits_until_its_dependency_is_healthy(project: Path) -> None:
    setup(project, {
        "api": {"cmd": SERVE, "env": {"DELAY": "0.6"}, "health": http()},
        "web": {"cmd": SERVE, "depends_on": {"api": "service_healthy"}},
        "worker": {"cmd": SLEEP, "port": False, "depends_on": ["api"]},  # only "started"
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        lag = float(stack.wait_for_line(r"devstack \| api healthy in (\d+\.\d+) s$").group(1))
        stack.wait_for_line(r"devstack \| web healthy in")
        out = stack.output
        assert lag >= 0.6  # the server listened after DELAY: earlier probes were refused, not counted
        assert out.index("web waiting for api (healthy)") < out.index("api started")
        assert out.index("api healthy in") < out.index("web started")
        # "started" is satisfied before api is healthy
        assert out.index("worker started") < out.index("api healthy in")
        wait_for(lambda: status(project)["api"]["state"] == "healthy", message="api healthy in status")
        states = status(project)
        assert states["web"]["state"] == "healthy" and states["worker"]["state"] == "running"
    assert stack.output.count("api healthy") == 1  # one transition, one line


def test_a_500_makes_it_unhealthy_once_then_healthy_again(project: Path) -> None:
    setup(project, {"api": {"cmd": SERVE, "restart": "no", "health": http(retries=3)}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"api healthy in")
        set_health(project, "api", "500")
        stack.wait_for_line(r"devstack \| api unhealthy: GET /healthz returned 500 \(3 times\)$")
        assert status(project)["api"]["state"] == "unhealthy"
        set_health(project, "api", None)
        stack.wait_for_line(r"devstack \| api healthy again$")
        assert status(project)["api"]["state"] == "healthy"
        out = stack.output
    assert out.count("api unhealthy") == 1 and out.count("api healthy again") == 1
    assert "restarting" not in out  # restart = "no"


def test_unhealthy_after_healthy_is_restarted_by_default(project: Path) -> None:
    setup(project, {"api": {"cmd": SERVE, "health": http()},
                    "other": {"cmd": SLEEP, "port": False}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"api healthy in")
        first = ready_pids(stack, "api", 1)[0]
        other = ready_pids(stack, "other", 1)[0]
        port = status(project)["api"]["ports"]["port"]
        set_health(project, "api", f"500 {first}")  # only this instance fails
        stack.wait_for_line(r"api unhealthy: GET /healthz returned 500 \(2 times\)")
        stack.wait_for_line(r"devstack \| api restarting: api unhealthy: .*restart = \"on-failure\"")
        stack.wait_for_line(r"devstack \| api restarted, healthy in \d+\.\d+ s$")
        assert not alive(first)
        assert alive(other)  # not touched
        assert ready_pids(stack, "api", 2)[1] != first
        after = status(project)["api"]
        assert after["state"] == "healthy" and after["restarts"] == 1 and after["ports"]["port"] == port


def test_a_probe_that_hangs_past_its_timeout_fails(project: Path) -> None:
    setup(project, {
        "api": {"cmd": SERVE, "health": http(timeout="200ms", start_period="300ms")},
        "web": {"cmd": SERVE, "depends_on": {"api": "healthy"}},
    })
    set_health(project, "api", "hang")
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| api never became healthy: GET /healthz timed out after 0\.2 s$",
                            timeout=5)  # the probes were cut off: a 30 s hang cannot take that long
        stack.wait_for_line(r"devstack \| web not started: api never became healthy$")
        assert status(project)["api"]["state"] == "failed"
    assert "web started" not in stack.output


def test_a_dependency_that_never_becomes_healthy_stops_its_dependents_only(project: Path) -> None:
    setup(project, {
        # listens nowhere: the tcp check is refused
        "db": {"cmd": SLEEP, "health": {"tcp": True, **FAST, "start_period": "300ms"}},
        "api": {"cmd": SERVE, "depends_on": {"db": "healthy"}},
        "web": {"cmd": SERVE, "depends_on": ["api"]},
        "mail": {"cmd": SERVE},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| db never became healthy: connection refused on 127\.0\.0\.1:\d+$")
        stack.wait_for_line(r"devstack \| api not started: db never became healthy$")
        stack.wait_for_line(r"devstack \| web not started: api was not started$")
        mail = int(stack.wait_for_line(r"mail\s+\| ready pid=(\d+)").group(1))
        states = {n: s["state"] for n, s in status(project).items()}
        assert states == {"db": "failed", "api": "not started", "web": "not started", "mail": "healthy"}
        assert alive(mail) and stack.proc.poll() is None  # the independent service keeps running
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
    out = stack.output
    assert "api started" not in out and "web started" not in out
    assert out.count("db never became healthy:") == 1


def test_dependency_cycles_and_unknown_names_are_config_errors(project: Path) -> None:
    setup(project, {
        "a": {"cmd": SLEEP, "depends_on": ["b"]},
        "b": {"cmd": SLEEP, "depends_on": {"c": "healthy"}},
        "c": {"cmd": SLEEP, "depends_on": ["a"]},
        "d": {"cmd": SLEEP, "depends_on": ["dbb"]},
        "db": {"cmd": SLEEP},
    })
    for command in (["check"], ["up"]):
        out = run_devstack(command, project)
        assert out.returncode == 2, out
        assert "dependency cycle: a -> b -> c -> a" in out.stderr
        assert 'depends on "dbb", which is not a service; did you mean "db"?' in out.stderr
        assert "Traceback" not in out.stderr and "started" not in out.stdout


def test_a_migration_gates_the_api_and_up_starts_what_it_depends_on(project: Path) -> None:
    migrate = f"{sys.executable} -c \"import time; time.sleep(0.3); open('migrated', 'w').close()\""
    setup(project, {
        "db": {"cmd": SERVE, "health": http()},
        "migrate": {"cmd": migrate, "port": False, "depends_on": {"db": "service_healthy"}},
        "api": {"cmd": f"test -f migrated && echo migrated && exec {SERVE}",
                "depends_on": {"migrate": "service_completed_successfully", "db": "healthy"}},
        "unrelated": {"cmd": SLEEP},
    })
    with Stack(project, "up", "--no-timestamps", "api") as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        out = stack.output
        assert out.index("db healthy in") < out.index("migrate started")
        assert out.index("migrate exited with code 0") < out.index("api started")
        assert re.search(r"^api\s+\| migrated$", out, re.MULTILINE)
        states = {n: s["state"] for n, s in status(project).items()}
        assert states == {"db": "healthy", "migrate": "exited", "api": "healthy"}  # no "unrelated"
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
    out = stack.output
    assert "unrelated" not in out
    assert "restarting" not in out and out.count("migrate started") == 1  # a task is not restarted


def test_a_failed_migration_stops_the_api_and_the_run_fails(project: Path) -> None:
    setup(project, {
        "migrate": {"cmd": "echo broken; exit 3", "port": False},
        "api": {"cmd": SERVE, "depends_on": {"migrate": "completed_successfully"}},
    })
    out = run_devstack(["up", "--no-timestamps"], project)
    assert out.returncode == 1, out
    assert "migrate exited with code 3" in out.stdout
    assert "api not started: migrate did not complete successfully (exited with code 3)" in out.stdout
    assert "api started" not in out.stdout and "restarting" not in out.stdout


def test_shutdown_runs_in_reverse_dependency_order(project: Path) -> None:
    slow = {"TERM_DELAY": "0.3"}  # each takes a while to stop: a stop out of order would overlap
    setup(project, {
        "db": {"cmd": SERVE, "env": slow, "health": http()},
        "api": {"cmd": SERVE, "env": slow, "depends_on": {"db": "healthy"}, "health": http()},
        "web": {"cmd": SLEEP, "port": False, "env": slow, "depends_on": {"api": "healthy"}},
        "worker": {"cmd": SLEEP, "port": False, "env": slow, "depends_on": ["db"]},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("db", "api", "web", "worker")
        stack.pids(4)
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
    out = stack.output

    def at(pattern: str) -> int:
        m = re.search(pattern, out, re.MULTILINE)
        assert m is not None, f"{pattern!r} not in:\n{out}"
        return m.start()

    got = {n: at(rf"^{n}\s+\| {n} got SIGTERM$") for n in ("db", "api", "web", "worker")}
    stopped = {n: at(rf"^devstack \| {n} stopped \(SIGTERM") for n in got}
    # a service is told to stop only once everything that depends on it has stopped
    assert stopped["web"] < got["api"]
    assert stopped["api"] < got["db"] and stopped["worker"] < got["db"]
    assert got["worker"] < stopped["web"]  # unrelated to web: stopped alongside it, not after


def test_proxy_variables_do_not_affect_health_probes(project: Path) -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env = clean_env(HTTP_PROXY=dead, HTTPS_PROXY=dead, ALL_PROXY=dead, http_proxy=dead,
                    https_proxy=dead, all_proxy=dead)
    for var in ("NO_PROXY", "no_proxy"):
        env.pop(var, None)
    setup(project, {
        "api": {"cmd": SERVE, "health": http()},
        "web": {"cmd": f"echo proxy=$HTTP_PROXY && exec {SERVE}", "depends_on": {"api": "healthy"}},
    })
    with Stack(project, "up", "--no-timestamps", env=env) as stack:
        stack.wait_for_line(r"devstack \| api healthy in")
        stack.wait_for_line(r"devstack \| web healthy in")
        stack.wait_for_line(rf"web\s+\| proxy={re.escape(dead)}$")  # the services still get it
