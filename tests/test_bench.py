"""The benchmark still runs: ``bench/run.py --quick --only devstack`` measures every workload (startup,
shutdown, log throughput, restart on change, idle cost, control commands) against the bare baselines,
exits 0 and writes its tables. It fails on a broken measurement (a workload that cannot run, a lost or
torn line, a process left behind), never on a timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_quick_benchmark_of_devstack_runs(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    argv = [sys.executable, str(BENCH), "--quick", "--only", "devstack", "--output", str(results)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=140, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = results.read_text()
    for workload in ("W1 startup", "W2 shutdown", "W3 log throughput", "W4 restart on change", "W5 idle cost",
                     "W6 control commands", "## Goals"):
        assert workload in report
    assert "Broken measurements" not in report
    assert "| 10 services" not in report  # --quick keeps the stacks small
