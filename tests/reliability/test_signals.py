"""Signals x process shapes: SIGINT, SIGTERM, SIGHUP and SIGKILL sent to devstack, against a plain
service, a shell's grandchild, a double-forking daemon, a service that ignores SIGTERM and one with 50
children. Afterwards no process of the run is alive anywhere on the machine (found by DEVSTACK_SERVICE
and this test's id in every process's environment) and each pid seen before the signal is gone.

Default: each combination once. Soak (DEVSTACK_SOAK=1): 20 times each."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from helpers.programs import daemon, ignore_term, sh, sleeper
from helpers.stack import Stack, write_config

from .kit import reps, survivors, wait_no_survivors

CHILDREN = 50

# the config of each shape (the service's name is the shape's)
SHAPES: dict[str, dict[str, Any]] = {
    "plain": {"cmd": sleeper(), "port": False},
    "grandchild": {"cmd": f"{sh(sleeper())} & wait", "port": False},
    "daemon": {"cmd": daemon(), "port": False},
    "ignores_term": {"cmd": ignore_term(), "stop_timeout": "300ms", "port": False},
    "children": {"cmd": f"for i in $(seq {CHILDREN}); do sleep 60 & done; echo ready pid=$$$$; wait",
                 "port": False},
}
# how many processes each shape has once it printed its ready line (leader included)
COUNTS = {"plain": 1, "grandchild": 2, "daemon": 2, "ignores_term": 1, "children": CHILDREN + 1}
SIGNALS = {
    signal.SIGINT: 130,  # Ctrl-C
    signal.SIGTERM: 143,  # kill <pid>
    signal.SIGHUP: 129,  # the terminal went away
    signal.SIGKILL: -signal.SIGKILL,  # nothing to catch: the guardian cleans up
}


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_nothing_survives_a_signal_to_devstack(project: Path, sig: signal.Signals) -> None:
    """Every shape runs as a service of the same stack, so each combination is tried on every run
    (and the shapes' stops overlap, as they do in a real stack)."""
    write_config(project, SHAPES)
    for attempt in range(reps(1, 20)):
        with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
            stack.pids(len(SHAPES))
            seen = survivors()
            by_shape = {name: [pid for pid, cmd in seen.items() if service_of(pid) == name]
                        for name in SHAPES}
            for name, pids in by_shape.items():
                assert len(pids) >= COUNTS[name], (attempt, name, pids)
            stack.send(sig)
            code = stack.wait(timeout=15)
        assert code == SIGNALS[sig], (attempt, code, stack.output, stack.stderr)
        # devstack confirms before it returns; after a SIGKILL its guardian needs a moment (1 s of grace
        # for a process that ignores SIGTERM)
        wait_no_survivors(list(seen), timeout=0.5 if sig != signal.SIGKILL else 5.0,
                          what=f"after {sig.name}, attempt {attempt}: {by_shape}")
        assert "Traceback" not in stack.stderr, stack.stderr


def service_of(pid: int) -> str | None:
    try:
        return psutil.Process(pid).environ().get("DEVSTACK_SERVICE")
    except psutil.Error:
        return None
