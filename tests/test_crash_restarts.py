"""Crash restarts, end to end: the delay doubles from ``restart_backoff`` up to ``restart_backoff_max``,
resets after ``restart_reset`` of uptime, and ``max_restarts`` ends in a clear "given up" line.

The services print their own start times: no restart may come before its delay (see
``helpers.restarts``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import tomli_w
from conftest import wait_for
from helpers.restarts import STAMP, announced_delays, assert_delays_kept, start_times
from helpers.stack import Stack, run_devstack


def write(project: Path, services: dict[str, Any], **settings: Any) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({"devstack": settings, "services": services}))


def starts(stack: Stack, name: str, count: int) -> list[float]:
    """The start times ``name`` printed, once it has printed ``count`` of them."""
    def found() -> list[float] | None:
        times = [float(t) for t in re.findall(rf"{name}\s+{STAMP}", stack.output, re.MULTILINE)]
        return times if len(times) >= count else None

    return wait_for(found, timeout=20, message=f"{count} starts of {name}:\n{stack.output}")


def test_backoff_doubles_up_to_the_cap_and_max_restarts_gives_up(project: Path) -> None:
    write(project, {"crash": {"cmd": 'echo "t=$(date +%s.%N)"; exit 3', "port": False, "max_restarts": 5}},
          restart_backoff="150ms", restart_backoff_max="600ms")
    with Stack(project, "up", "--no-timestamps") as stack:
        code = stack.wait(30)
    out = stack.output
    assert code == 1, out
    assert announced_delays(out, "crash") == [0.15, 0.3, 0.6, 0.6, 0.6]  # the delays devstack chose...
    assert "crash given up after 5 restarts (max_restarts = 5)" in out
    assert "restart 5/5" in out and "restart 6" not in out
    assert len(start_times(out, "crash")) == 6
    assert_delays_kept(out, "crash")  # ...and what really happened


def test_status_counts_crash_restarts_and_the_given_up_service(project: Path) -> None:
    write(project, {"crash": {"cmd": "exit 3", "port": False, "max_restarts": 2},
                    "steady": {"cmd": "sleep 60", "port": False}},
          restart_backoff="50ms")
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"crash given up after 2 restarts")
        out = run_devstack(["status", "--json"], project)
        by_name = {s["name"]: s for s in json.loads(out.stdout)["services"]}
        crash = by_name["crash"]
        assert crash["state"] == "failed" and crash["restarts"] == 2 and crash["exit_code"] == 3
        assert crash["pid"] is None and "given up after 2 restarts" in crash["why"]
        assert by_name["steady"]["restarts"] == 0 and by_name["steady"]["state"] == "running"
        table = run_devstack(["status"], project).stdout
        row = next(line for line in table.splitlines() if line.startswith("crash"))
        assert row.split()[:5] == ["crash", "failed", "2", "0", "3"] and "given up" in row  # 0 reloads


def test_backoff_resets_after_a_stable_uptime(project: Path) -> None:
    # crashes at once 3 times, then stays up 1 s (past restart_reset) before crashing again
    script = ('n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo "t=$(date +%s.%N)"; '
              'if [ "$n" = 4 ]; then sleep 1; fi; exit 1')
    write(project, {"flaky": {"cmd": script, "port": False, "max_restarts": 5}},
          restart_backoff="100ms", restart_reset="700ms")
    with Stack(project, "up", "--no-timestamps") as stack:
        starts(stack, "flaky", 6)
        assert stack.wait(20) == 1
    delays = [float(d) for d in re.findall(r"flaky restarting in ([\d.]+) s", stack.output)]
    assert delays == [0.1, 0.2, 0.4, 0.1, 0.2], stack.output  # the 4th instance lived past the reset


def test_restart_always_restarts_a_clean_exit_and_no_never_does(project: Path) -> None:
    write(project, {"always": {"cmd": 'echo "t=$(date +%s.%N)"; exit 0', "port": False, "restart": "always",
                               "max_restarts": 2},
                    "once": {"cmd": "echo once; exit 1", "port": False, "restart": "no"},
                    "clean": {"cmd": "echo clean; exit 0", "port": False}},
          restart_backoff="50ms")
    with Stack(project, "up", "--no-timestamps") as stack:
        assert stack.wait(20) == 1
    out = stack.output
    assert len(re.findall(rf"always\s+{STAMP}", out, re.MULTILINE)) == 3
    assert "always given up after 2 restarts" in out
    assert len(re.findall(r"once\s+\| once$", out, re.MULTILINE)) == 1
    assert "once restarting" not in out and "clean restarting" not in out  # on-failure: exit 0 is done
