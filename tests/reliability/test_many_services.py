"""A large stack stopping: hundreds of services ending at once send more SIGCHLDs than asyncio's wakeup
socket holds while the loop is busy stopping them. CPython used to print a traceback for each signal it
could not write there ("Exception ignored when trying to write to the signal wakeup fd", 554 of them
for 500 services); the stop itself must be quick and quiet, and leave nothing."""

from __future__ import annotations

import signal
from pathlib import Path

from helpers.stack import Stack, write_config

from .kit import wait_no_survivors

SERVICES = 300


def test_hundreds_of_services_stop_at_once_without_a_traceback(project: Path) -> None:
    write_config(project, {f"s{i}": {"cmd": "sleep 60", "port": False} for i in range(SERVICES)})
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"devstack \| ready in", timeout=60)
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=30) == 130, stack.output[-2000:] + stack.stderr[-2000:]
        everything = stack.output + stack.stderr
        assert "Exception ignored" not in everything and "Traceback" not in everything, stack.stderr[-3000:]
        assert "all services stopped" in stack.output
    wait_no_survivors([], timeout=10)
