"""No error ends a service's supervision silently. ``DEVSTACK_FAILPOINTS`` (devstack/failpoints.py)
makes one step of a service's life raise an ``OSError``, as a full disk, a descriptor limit or a
vanished directory would: its start (transient EMFILE, and a permanent EIO), right after it started,
the handling of its exit, a restart, its health check, and its stop at Ctrl-C. Each time the error is
reported in one line saying where, and the service is kept supervised: restarted with the backoff and
healthy again, or (a start that can never succeed) marked failed with the reason; Ctrl-C still exits
130 and nothing is left running."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import tomli_w
from helpers.stack import Stack, clean_env, run_devstack

from .kit import wait_no_survivors

SERVE = "exec python3 -m http.server ${PORT} --bind 127.0.0.1"
# exits 3 the first time, then serves (for the step that handles an exit)
CRASH_ONCE = f"if [ ! -e crashed ]; then touch crashed; echo crashing; exit 3; fi; {SERVE}"

CASES = {  # failpoint -> (cmd, the line that reports it)
    "spawn:web:emfile:2": (SERVE, r"web failed to start: cannot start '/bin/sh': Too many open files"),
    "started:web": (SERVE, r"web: unexpected error while devstack supervised it: OSError: \[Errno 5\] "
                           r"Input/output error \(injected at started\) \(at failpoints\.py:\d+ in check\); "
                           r"its processes are stopped, restarting it in 0\.1 s"),
    "exited:web": (CRASH_ONCE, r"web: unexpected error while devstack supervised it: .*injected at exited"),
    "restart:web": (SERVE, r"web: unexpected error while devstack supervised it: .*injected at restart"),
    "monitor:web": (SERVE, r"web: its health check failed unexpectedly: .*injected at monitor"),
}


def write(project: Path, cmd: str) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({
        "devstack": {"restart_backoff": "100ms"},
        "services": {"web": {"cmd": cmd}, "other": {"cmd": "sleep 60", "port": False}}}))


def status(project: Path) -> dict[str, dict[str, object]]:
    out = run_devstack(["status", "--json"], project)
    assert out.returncode == 0, out
    return {s["name"]: s for s in json.loads(out.stdout)["services"]}


@pytest.mark.parametrize("failpoint", CASES)
def test_an_error_at_each_step_keeps_the_service_supervised(project: Path, failpoint: str) -> None:
    cmd, reported = CASES[failpoint]
    write(project, cmd)
    env = clean_env(DEVSTACK_FAILPOINTS=failpoint)
    with Stack(project, "up", "--no-timestamps", "--no-watch", env=env) as stack:
        if failpoint.startswith("restart"):
            stack.wait_for_line(r"devstack \| web healthy in", timeout=20)
            restart = run_devstack(["restart", "web"], project, timeout=30)
            assert restart.returncode == 0 and "web: healthy" in restart.stdout, restart
        stack.wait_for_line(reported, timeout=20)
        stack.wait_for_line(rf"{reported}[\s\S]*devstack \| web (restarted, )?healthy in", timeout=20)
        states = status(project)
        assert states["web"]["state"] == "healthy" and states["other"]["state"] == "running", states
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr
    wait_no_survivors([], timeout=5)


def test_an_error_while_stopping_still_stops_it(project: Path) -> None:
    write(project, SERVE)
    with Stack(project, "up", "--no-timestamps", "--no-watch",
               env=clean_env(DEVSTACK_FAILPOINTS="stop:web")) as stack:
        pid = stack.started("web")["web"]
        stack.wait_for_line(r"devstack \| web healthy in", timeout=20)
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    assert "web: unexpected error while stopping it: OSError" in stack.output, stack.output
    assert "killing its processes" in stack.output and "all services stopped" in stack.output
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr
    wait_no_survivors([pid], timeout=5)


def test_a_start_that_cannot_succeed_is_marked_failed_with_the_reason(project: Path) -> None:
    write(project, SERVE)
    with Stack(project, "up", "--no-timestamps", "--no-watch",
               env=clean_env(DEVSTACK_FAILPOINTS="spawn:web:50")) as stack:
        stack.wait_for_line(r"web failed to start: cannot start '/bin/sh': Input/output error", timeout=20)
        states = status(project)
        assert states["web"]["state"] == "failed" and "Input/output error" in str(states["web"]["why"])
        assert states["other"]["state"] == "running"
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    assert "Traceback" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)
