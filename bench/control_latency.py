"""How fast the control plane answers, and what a crash loop costs devstack.

    .venv/bin/python bench/control_latency.py [--services 20] [--runs 20] [--cpu-seconds 20]

1. A 20-service stack (HTTP servers on their own ports) started with ``devstack up -d``: the wall time
   of ``devstack status`` and ``devstack ports`` (the whole command, interpreter start-up included;
   median of ``--runs``), and of the same request made straight to the control socket (the server's
   share). Goal: under 200 ms for the command.
2. A stack whose one service crash-loops: the supervisor's CPU (psutil ``cpu_times``, user + system)
   over ``--cpu-seconds``, with the default backoff and with a 0.1 s backoff capped at 0.1 s (a restart
   every ~0.1 s: the cost per restart). Goal: under 2 % of a core.

Prints a report; asserts nothing. Everything it starts is stopped with ``devstack down``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import tomli_w

DEVSTACK = [str(Path(sys.executable).with_name("devstack"))]
if not Path(DEVSTACK[0]).exists():
    DEVSTACK = [sys.executable, "-m", "devstack"]


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
    env["XDG_STATE_HOME"] = str(project / ".xdg-state")
    return subprocess.run([*DEVSTACK, *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def write(project: Path, services: dict[str, dict[str, object]], **settings: object) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({"devstack": settings, "services": services}))


def timed(project: Path, runs: int, *args: str) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        out = run(project, *args)
        times.append(time.perf_counter() - began)
        if out.returncode != 0:
            raise SystemExit(f"devstack {' '.join(args)} failed: {out.stderr}")
    return times


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, "
            f"max {max(values) * 1000:.0f})")


def supervisor(project: Path) -> psutil.Process:
    return psutil.Process(json.loads((project / ".devstack" / "run.json").read_text())["pid"])


def latency(root: Path, services: int, runs: int) -> None:
    project = root / "latency"
    project.mkdir()
    write(project, {f"s{i:02d}": {"cmd": f"{sys.executable} -m http.server ${{PORT}} --bind 127.0.0.1"}
                    for i in range(services)})
    try:
        out = run(project, "up", "-d")
        if out.returncode != 0:
            raise SystemExit(f"devstack up -d failed:\n{out.stdout}\n{out.stderr}")
        print(f"{services} services running (supervisor pid {supervisor(project).pid})")
        for args in (["status"], ["ports"], ["status", "--json"], ["--version"]):
            print(f"  devstack {' '.join(args):<14} {ms(timed(project, runs, *args))}")
        sock = json.loads((project / ".devstack" / "run.json").read_text())["control"]
        with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://devstack",
                          trust_env=False, timeout=60) as client:
            direct = []
            for _ in range(runs):
                began = time.perf_counter()
                client.get("/status").raise_for_status()
                direct.append(time.perf_counter() - began)
        print(f"  GET /status on the socket  {ms(direct)}  (the server's share)")
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"  bare interpreter start     {(time.perf_counter() - began) * 1000:.0f} ms")
    finally:
        run(project, "down")


def crash_cpu(root: Path, seconds: float, label: str, **settings: object) -> None:
    project = root / f"cpu-{label}"
    project.mkdir()
    write(project, {"crash": {"cmd": "exit 1", "port": False, "restart": "always"},
                    "steady": {"cmd": "sleep 600", "port": False}}, **settings)
    try:
        run(project, "up", "-d")  # exits 1: crash is crash-looping; the stack runs on
        proc = supervisor(project)
        before, began = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, took = proc.cpu_times(), time.monotonic() - began
        used = (after.user - before.user) + (after.system - before.system)
        restarts = json.loads(run(project, "status", "--json").stdout)["services"][0]["restarts"]
        print(f"  {label:<28} {used / took * 100:.2f} % of a core over {took:.0f} s "
              f"({restarts} restarts so far; {used:.3f} s CPU)")
    finally:
        run(project, "down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    root = Path(tempfile.mkdtemp(prefix="devstack-bench-"))
    try:
        latency(root, args.services, args.runs)
        print("supervisor CPU while a service crash-loops:")
        crash_cpu(root, args.cpu_seconds, "default backoff (0.5 s..30 s)")
        crash_cpu(root, args.cpu_seconds, "backoff 0.1 s, capped at 0.1 s",
                  restart_backoff="100ms", restart_backoff_max="100ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
