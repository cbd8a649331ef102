"""Hostile clients of the control socket: parameters that are not numbers (``inf``, ``nan``, ``-1``,
``1.5``), bodies nested too deeply, and a ``--grep`` pattern that would backtrack for ever. Each gets a
400 saying which parameter and why, the supervisor prints no traceback, and it keeps answering and
supervising (a crashing service is still restarted) while a catastrophic pattern is matched."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
from conftest import wait_for
from helpers.stack import Stack, run_devstack, write_config

from .kit import control_socket, wait_no_survivors

# a line that makes a backtracking engine take exponential time on (a+)+$
LONG_A = "a" * 40
CATASTROPHIC = "(a+)+$"
CRASHER = {"cmd": "echo crash; exit 3", "port": False, "restart": "always"}


def client(sock: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://devstack",
                        timeout=10, trust_env=False)


def test_bad_parameters_and_bodies_get_a_400_naming_them(project: Path) -> None:
    write_config(project, {"talker": {"cmd": f"echo {LONG_A}b; sleep 60", "port": False},
                           "crasher": CRASHER})
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(rf"talker\s+\| {LONG_A}b$")
        sock = control_socket(project)
        with client(sock) as c:
            for path, params, key in (("/logs", {"n": "inf"}, "n"), ("/logs", {"n": "nan"}, "n"),
                                      ("/logs", {"n": "-1"}, "n"), ("/logs", {"n": "1.5"}, "n"),
                                      ("/logs", {"n": "1e400"}, "n"), ("/logs", {"since": "nan"}, "since"),
                                      ("/logs", {"since": "-inf"}, "since"),
                                      ("/wait", {"timeout": "inf"}, "timeout"),
                                      ("/wait", {"timeout": "nan"}, "timeout"),
                                      ("/wait", {"timeout": "-5"}, "timeout")):
                resp = c.get(path, params=params)
                assert resp.status_code == 400, (path, params, resp.status_code, resp.text)
                error = resp.json()["error"]
                assert error.startswith(f"{key}: expected a"), (params, error)
            deep = b"[" * 50_000 + b"]" * 50_000
            for body in (deep, b'{"names": ' + deep + b"}"):
                for route in ("/start", "/stop", "/restart"):
                    resp = c.post(route, content=body)
                    assert resp.status_code == 400, (route, resp.status_code, resp.text[:200])
                    assert "nested too deeply" in resp.json()["error"] or "name at least one" in \
                        resp.json()["error"], resp.text[:200]
            resp = c.get("/logs", params={"grep": "(a)\\1"})
            assert resp.status_code == 400 and "grep:" in resp.json()["error"], resp.text
            assert c.get("/status").status_code == 200
        restarts = stack.output.count("crasher started")
        wait_for(lambda: stack.output.count("crasher started") > restarts, message="crasher restarted")
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=15) == 130
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr
    assert "internal error" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)


def test_a_catastrophic_grep_does_not_block_the_supervisor(project: Path) -> None:
    write_config(project, {"talker": {"cmd": f"for i in $(seq 200); do echo {LONG_A}b; done; sleep 60",
                                      "port": False},
                           "crasher": CRASHER})
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"talker\s+\|.*b$")
        sock = control_socket(project)
        answers: list[httpx.Response] = []
        asker = threading.Thread(target=lambda: answers.append(
            client(sock).get("/logs", params={"grep": CATASTROPHIC})), daemon=True)
        asker.start()
        with client(sock) as c:
            for _ in range(5):  # the loop answers at once while (and after) the pattern is matched
                began = time.monotonic()
                assert c.get("/status").status_code == 200
                assert time.monotonic() - began < 2.0
        asker.join(10)
        assert answers and answers[0].status_code == 200, answers
        began = time.monotonic()
        out = run_devstack(["logs", "--grep", CATASTROPHIC], project, timeout=20)  # the CLI, the same way
        assert out.returncode == 0 and out.stdout == "" and time.monotonic() - began < 10, out
        stack.send(signal.SIGINT)
        began = time.monotonic()
        assert stack.wait(timeout=15) == 130
        assert time.monotonic() - began < 5
    out = run_devstack(["logs", "--grep", CATASTROPHIC], project, timeout=20)  # the log files, too
    assert out.returncode == 0 and "Traceback" not in out.stderr, out
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr
    wait_no_survivors([], timeout=5)
