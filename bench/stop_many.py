"""Ctrl-C -> every process gone, for a stack of N standard-library HTTP servers (issue 21's W2 at the
sizes given): devstack up, wait until every service is healthy, SIGINT (or SIGTERM) to devstack, then
time until devstack has exited and no process it started is alive. Prints one line per run.

    .venv/bin/python bench/stop_many.py 10 50 --runs 3 [--signal TERM] [--tracking tree]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
DEVSTACK = [sys.executable, "-m", "devstack"]


def config(n: int) -> str:
    lines = []
    for i in range(n):
        lines.append(f'[services.s{i}]\ncmd = ["{sys.executable}", "-m", "http.server", "--bind", '
                     f'"127.0.0.1", "${{PORT}}"]\n')
    return "\n".join(lines)


def once(n: int, sig: signal.Signals, env: dict[str, str]) -> float:
    with tempfile.TemporaryDirectory(prefix="devstack-stop-") as tmp:
        root = Path(tmp)
        (root / "devstack.toml").write_text(config(n))
        env = {**env, "XDG_STATE_HOME": str(root / ".xdg")}
        out = open(root / "out.log", "w+b")
        proc = subprocess.Popen([*DEVSTACK, "up", "--no-color", "--no-watch"], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while (root / "out.log").read_bytes().count(b" healthy in ") < n:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((root / "out.log").read_text()[-3000:])
            time.sleep(0.05)
        time.sleep(0.3)
        pids = psutil.Process(proc.pid).children(recursive=True)
        began = time.monotonic()
        os.kill(proc.pid, sig)
        while True:
            alive = [p for p in pids if _alive(p)]
            if proc.poll() is not None and not alive:
                return time.monotonic() - began
            if time.monotonic() - began > 60:
                proc.kill()
                raise SystemExit(f"still alive after 60 s: {alive}")
            time.sleep(0.005)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--signal", default="INT", choices=("INT", "TERM"))
    parser.add_argument("--tracking", choices=("auto", "cgroup", "tree"), default="auto")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.tracking != "auto":
        env["DEVSTACK_TRACKING"] = args.tracking
    sig = signal.Signals[f"SIG{args.signal}"]
    for n in args.sizes:
        times = [once(n, sig, env) for _ in range(args.runs)]
        print(f"{n} services, SIG{args.signal}, tracking {args.tracking}: min {min(times):.2f} s, "
              f"median {statistics.median(times):.2f} s, max {max(times):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
