"""File descriptors run out: hundreds of idle connections to the control socket.

With room to spare, the control socket serves at most 128 connections at once (the rest wait in the
kernel's backlog, costing devstack nothing), closes the idle ones first and any that sends no request
for 10 s: devstack's own descriptors stay bounded, `status` still answers, a crashing service is still
restarted. With a limit so low that the connections exhaust it (``prlimit --nofile=64``): the
condition is said once (not a traceback a second), the crashing service's start fails with "Too many
open files" and is tried again with the backoff, never given up, and starts again once the
connections are gone."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import tomli_w
from conftest import wait_for
from helpers.stack import Stack, run_devstack

from .kit import control_socket, wait_no_survivors

CONNECTIONS = 500


def write(project: Path) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({
        "devstack": {"restart_backoff": "100ms", "restart_backoff_max": "1s"},
        "services": {"crasher": {"cmd": "echo crash; sleep 0.2; exit 1", "port": False, "restart": "always"},
                     "web": {"cmd": "exec python3 -m http.server ${PORT} --bind 127.0.0.1"}}}))


def connect_many(sock: Path, count: int) -> list[socket.socket]:
    out = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        try:
            s.connect(str(sock))
        except BlockingIOError:  # the backlog is full: enough
            s.close()
            break
        out.append(s)
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def starts(stack: Stack) -> int:
    return stack.output.count("crasher started")


def test_idle_connections_are_capped_and_closed(project: Path) -> None:
    write(project)
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"web healthy in", timeout=20)
        sock = control_socket(project)
        held = connect_many(sock, CONNECTIONS)
        try:
            assert len(held) == CONNECTIONS
            wait_for(lambda: "128 connections at once" in stack.output, timeout=10, message="the cap")
            assert open_fds(stack.pid) < 128 + 40, open_fds(stack.pid)
            began = time.monotonic()
            out = run_devstack(["status"], project, timeout=30)  # served: idle ones make room
            assert out.returncode == 0 and "crasher" in out.stdout, out
            assert time.monotonic() - began < 10
            before = starts(stack)
            wait_for(lambda: starts(stack) > before + 2, timeout=20, message="crasher still restarted")
            # whatever sends no request is closed: every connection sees its end, none is left open
            wait_for(lambda: open_fds(stack.pid) < 40, timeout=60, message="the idle connections closed")
        finally:
            for s in held:
                s.close()
        assert open_fds(stack.pid) < 128 + 40
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    assert stack.output.count("128 connections at once") == 1, stack.output
    assert "Traceback" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)


def test_out_of_descriptors_is_said_once_and_the_crasher_comes_back(project: Path) -> None:
    write(project)
    with Stack(project, "up", "--no-timestamps", "--no-watch",
               wrap=["prlimit", "--nofile=64:64", "--"]) as stack:
        stack.wait_for_line(r"web healthy in", timeout=20)
        sock = control_socket(project)
        held = connect_many(sock, CONNECTIONS)
        try:
            stack.wait_for_line(r"the control socket cannot take a connection: Too many open files",
                                timeout=20)
            stack.wait_for_line(r"crasher failed to start: .*Too many open files", timeout=20)
            stack.wait_for_line(r"crasher failed to start: .*\n.*crasher restarting in", timeout=10)
        finally:
            for s in held:
                s.close()
        before = starts(stack)
        wait_for(lambda: starts(stack) > before + 1, timeout=30, message="crasher started again")
        assert run_devstack(["status"], project, timeout=30).returncode == 0
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    out = stack.output + stack.stderr
    assert out.count("the control socket cannot take a connection") == 1, out[-3000:]
    assert out.count("Too many open files") < 40, out[-3000:]  # a line per failed start, no flood
    assert "given up" not in out and "Traceback" not in out, out[-3000:]
    wait_no_survivors([], timeout=5)
