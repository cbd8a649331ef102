"""A stepped wall clock (an NTP correction, a laptop resumed, ``date -s``) must not make a running stack
look dead: ``wait``, ``logs -f``, ``status`` and a second ``up`` still find it.

Stepping the real clock (as root, ``date -s``) would disturb every other test running on the machine
at the same time, so the step is injected where devstack's commands read the wall clock: a
``sitecustomize`` on the client's PYTHONPATH shifts ``time.time`` and the boot time psutil reads from
/proc/stat (``btime``, which the kernel derives from the wall clock and which moves with it on a real
step; psutil's ``create_time`` is that plus the process's ticks since boot). Before the fix, liveness
compared ``create_time`` values, and this test saw "no stack is running"."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from helpers.stack import DEVSTACK, Stack, clean_env, run_devstack, write_config

from .kit import wait_no_survivors

SITECUSTOMIZE = """
import time, psutil._pslinux as linux
SHIFT = {shift}
_time, _boot = time.time, linux.boot_time
time.time = lambda: _time() + SHIFT
linux.boot_time = lambda: _boot() + SHIFT
"""


@pytest.mark.parametrize("shift", [3600.0, -3600.0, 0.5], ids=["forward 1 h", "back 1 h", "forward 0.5 s"])
def test_a_stepped_clock_does_not_hide_the_running_stack(project: Path, tmp_path: Path, shift: float) -> None:
    hook = tmp_path / "clock"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE.format(shift=shift))
    stepped = clean_env(PYTHONPATH=str(hook))
    write_config(project, {"talker": {"cmd": "echo hello; sleep 60", "port": False}})
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"talker\s+\| hello")
        probe = run_devstack(["status"], project, env=stepped)
        assert probe.returncode == 0 and "talker" in probe.stdout, probe
        waited = run_devstack(["wait", "--timeout", "10"], project, env=stepped)
        assert waited.returncode == 0 and "ready" in waited.stdout, waited
        with subprocess.Popen([*DEVSTACK, "logs", "-f", "talker"], cwd=project, env=stepped,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follow:
            assert follow.stdout is not None
            first = follow.stdout.readline()
            follow.send_signal(signal.SIGINT)
            rest, err = follow.communicate(timeout=10)
        assert "hello" in first or "talker" in first, (first, rest, err)
        second = run_devstack(["up"], project, env=stepped)
        assert second.returncode == 1 and "already running for this project (pid" in second.stderr, second
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=15) == 130
    for out in (stack.output + stack.stderr, probe.stderr, waited.stderr, second.stderr):
        assert "Traceback" not in out
    wait_no_survivors([], timeout=5)
