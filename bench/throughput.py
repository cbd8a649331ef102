"""Throughput of devstack's output path: one service printing 500,000 lines of 80 bytes.

The same program runs twice: writing straight to a file, and as the one service of
``devstack up --no-timestamps`` whose stdout goes to a file. The program times itself (from before its
first write to after its last one) into a side file, so devstack's own start-up and shutdown are not
counted in the ratio; they are shown beside it as the whole command's wall time. devstack's peak RSS
is sampled with psutil every 5 ms.

Two ways of printing are measured: large block writes (what a buffered logger does) and one write
per line (``print`` with PYTHONUNBUFFERED=1, which devstack sets for every service).

    .venv/bin/python bench/throughput.py [--runs 5] [--lines 500000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

PROGRAM = r"""
import os, sys, time
lines, mode, timing = int(sys.argv[1]), sys.argv[2], sys.argv[3]
line = ('x' * 71)
begin = time.monotonic()
if mode == 'block':
    out = sys.stdout.buffer
    batch = 1000
    for start in range(0, lines, batch):
        out.write(''.join(f'{i:07d} {line}\n' for i in range(start, min(start + batch, lines))).encode())
    out.flush()
else:
    for i in range(lines):
        print(f'{i:07d} {line}')
elapsed = time.monotonic() - begin
with open(timing, 'w') as f:
    f.write(str(elapsed))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
    env["PYTHONUNBUFFERED"] = "1"  # as devstack sets it for its services
    env.pop("FORCE_COLOR", None)
    return env


def straight(root: Path, lines: int, mode: str) -> tuple[float, float]:
    timing = root / "timing"
    with (root / "straight.out").open("wb") as out:
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", PROGRAM, str(lines), mode, str(timing)], stdout=out,
                       env=_env(), check=True)
        wall = time.monotonic() - began
    return float(timing.read_text()), wall


def under_devstack(root: Path, lines: int, mode: str) -> tuple[float, float, int]:
    timing = root / "timing"
    argv = [sys.executable, "-c", PROGRAM, str(lines), mode, str(timing)]
    toml = "[services.flood]\ncmd = [" + ", ".join(_toml_str(a) for a in argv) + "]\n"
    (root / "devstack.toml").write_text(toml)
    devstack = Path(sys.executable).parent / "devstack"
    peak = 0
    with (root / "devstack.out").open("wb") as out:
        began = time.monotonic()
        proc = subprocess.Popen([str(devstack), "up", "--no-timestamps"], cwd=root, stdout=out,
                                env=_env())
        ps = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, ps.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        code = proc.wait()
        wall = time.monotonic() - began
        done.set()
        sampler.join()
    if code != 0:
        raise SystemExit(f"devstack exited with {code}")
    got = sum(1 for line in (root / "devstack.out").open("rb") if line.startswith(b"flood    | "))
    if got != lines:
        raise SystemExit(f"devstack printed {got} of {lines} lines")
    return float(timing.read_text()), wall, peak


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=500_000)
    args = parser.parse_args()
    for mode in ("block", "line"):
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for _ in range(args.runs):
                s_prog, s_wall = straight(root, args.lines, mode)
                d_prog, d_wall, peak = under_devstack(root, args.lines, mode)
                rows.append((s_prog, d_prog, s_wall, d_wall, peak))
        s_prog = statistics.median(r[0] for r in rows)
        d_prog = statistics.median(r[1] for r in rows)
        s_wall = statistics.median(r[2] for r in rows)
        d_wall = statistics.median(r[3] for r in rows)
        peak = max(r[4] for r in rows)
        print(f"{mode} writes, {args.lines} lines x 80 B, median of {args.runs}:")
        print(f"  program run time: straight to file {s_prog:.3f} s, under devstack {d_prog:.3f} s, "
              f"ratio {d_prog / s_prog:.2f}x")
        print(f"  whole command:    straight {s_wall:.3f} s, devstack up {d_wall:.3f} s "
              f"(includes devstack's start-up and shutdown)")
        print(f"  devstack peak RSS: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
