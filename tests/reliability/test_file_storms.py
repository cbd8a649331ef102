"""File storms: 10,000 changes within a second restart each affected service once and leave the others
alone; a service that keeps writing into its own watched tree is paused with a warning and stays
paused, while its neighbours still restart on their changes."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import tomli_w
from helpers.stack import Stack

from .kit import reps

SLEEP = (f"{sys.executable} -c \"import os, time; print(f'ready pid={{os.getpid()}}', flush=True); "
         "time.sleep(60)\"")


def ready(stack: Stack, name: str, count: int) -> list[int]:
    return stack.pids(count, rf"(?m)^{name}\s+\| ready pid=(\d+)", timeout=20)


def restarts(stack: Stack, name: str) -> int:
    return len(re.findall(rf"(?m)^devstack +\| {name} restarting: ", stack.output))


def setup(project: Path, services: dict[str, dict[str, object]]) -> None:
    for name in services:
        (project / name).mkdir(exist_ok=True)
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": services}))


def settle(stack: Stack, project: Path) -> None:
    """A change to the sentinel ``flag``, and its restart: everything seen before has been acted on."""
    before = restarts(stack, "flag")
    (project / "flag" / "trigger").write_text(str(time.monotonic()))
    ready(stack, "flag", before + 2)


def svc(name: str, cmd: str = SLEEP) -> dict[str, object]:
    return {"cmd": cmd, "cwd": name, "watch": True, "port": False}


def test_ten_thousand_changes_in_a_second_restart_each_affected_service_once(project: Path) -> None:
    setup(project, {"a": svc("a"), "b": svc("b"), "calm": svc("calm"), "flag": svc("flag")})
    with Stack(project, "up", "--no-timestamps") as stack:
        for name in ("a", "b", "calm", "flag"):
            ready(stack, name, 1)
        for storm in range(reps(1, 5)):
            # 10,000 writes to 200 open files: each one is a change the watcher sees
            files = [(project / ("a" if i % 2 else "b") / f"f{i}.txt").open("w") for i in range(200)]
            try:
                began = time.monotonic()
                for i in range(10_000):
                    f = files[i % 200]
                    f.write(f"{storm} {i}\n")
                    f.flush()
                took = time.monotonic() - began
            finally:
                for f in files:
                    f.close()
            assert took < 1.5, f"the storm took {took:.2f} s"
            ready(stack, "a", storm + 2)
            ready(stack, "b", storm + 2)
            settle(stack, project)
            assert (restarts(stack, "a"), restarts(stack, "b")) == (storm + 1, storm + 1), stack.output
            assert restarts(stack, "calm") == 0


def test_a_service_writing_into_its_own_tree_stays_paused(project: Path) -> None:
    # writes once as it starts, then every 0.3 s (more than the debounce: each write is a burst)
    writer = "date +%N >> out.txt; while true; do sleep 0.3; date +%N >> out.txt; done"
    setup(project, {"loop": svc("loop", writer), "neighbour": svc("neighbour"), "flag": svc("flag")})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack +\| loop restarted more than 10 times in 10 s because of its own "
                            r"changes, watching it is paused", timeout=30)
        count = restarts(stack, "loop")
        ready(stack, "neighbour", 1)
        for n in range(reps(2, 10)):
            (project / "neighbour" / "x.txt").write_text(str(n))
            ready(stack, "neighbour", n + 2)
            settle(stack, project)
        # it keeps writing, but is not restarted again
        assert restarts(stack, "loop") == count
        assert stack.output.count("watching it is paused") == 1
