"""What tracking processes costs, with cgroups and with the process tree.

1. Start: one service instance's share, measured in-process: making its cgroup, starting a process
   straight into it (the ``preexec_fn`` that writes ``cgroup.procs``), and removing the cgroup, against
   the same start without a cgroup (with a ``preexec_fn`` all the same, as devstack's PDEATHSIG one:
   it is what makes subprocess fork instead of vfork); N times each, the median per start.
2. ``status``: ``GET /status`` over the control socket of a running stack of S services (which looks up
   every service's processes and sockets), in each mode; the median of R requests.

    .venv/bin/python bench/tracking_cost.py [--starts 200] [--services 20] [--requests 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack import cgroup
from devstack.control.client import request


def start_cost(n: int) -> tuple[float, float] | None:
    try:
        run = cgroup.make_run_cgroup(os.urandom(8).hex())
    except cgroup.Unavailable as exc:
        print(f"no cgroup here: {exc}")
        return None
    plain, placed = [], []
    try:
        for i in range(n):
            t = time.perf_counter()
            subprocess.run(["true"], check=True, preexec_fn=_nothing)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            slot = run / f"s{i}"
            slot.mkdir()
            subprocess.run(["true"], check=True, preexec_fn=cgroup.enter_preexec(slot))
            cgroup.remove(slot)
            placed.append(time.perf_counter() - t)
    finally:
        cgroup.remove(run)
    return statistics.median(plain) * 1000, statistics.median(placed) * 1000


def _nothing() -> None:
    pass


def status_cost(services: int, requests: int, mode: str) -> float:
    with tempfile.TemporaryDirectory(prefix="devstack-tracking-") as tmp:
        root = Path(tmp)
        body = "".join(f'[services.s{i}]\ncmd = ["{sys.executable}", "-m", "http.server", "--bind", '
                       f'"127.0.0.1", "${{PORT}}"]\n\n' for i in range(services))
        (root / "devstack.toml").write_text(body)
        env = {**os.environ, "DEVSTACK_TRACKING": mode, "XDG_STATE_HOME": str(root / ".xdg")}
        out = open(root / "out.log", "w+b")
        proc = subprocess.Popen([sys.executable, "-m", "devstack", "up", "--no-color", "--no-watch"],
                                cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while (root / "out.log").read_bytes().count(b" healthy in ") < services:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((root / "out.log").read_text()[-2000:])
                time.sleep(0.05)
            times = []
            for _ in range(requests):
                t = time.perf_counter()
                request(root / ".devstack", "GET", "/status")
                times.append(time.perf_counter() - t)
            return statistics.median(times) * 1000
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    costs = start_cost(args.starts)
    if costs is not None:
        print(f"start: {costs[0]:.2f} ms without a cgroup, {costs[1]:.2f} ms with one "
              f"(+{costs[1] - costs[0]:.2f} ms per service instance; median of {args.starts})")
    for mode in ("cgroup", "tree"):
        ms = status_cost(args.services, args.requests, mode)
        print(f"GET /status, {args.services} services, {mode}: {ms:.1f} ms (median of {args.requests})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
