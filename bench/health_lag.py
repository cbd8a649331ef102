"""How quickly a monitor notices a service is up, and what monitoring a stack costs.

    .venv/bin/python bench/health_lag.py [--runs 20] [--services 50] [--seconds 10]

1. Lag: a port is bound but refuses connections; at a random moment it starts listening; the lag is the
   time from ``listen()`` to the monitor reporting healthy, with the default check durations. Median
   and worst of ``--runs``, for an ``http`` and a ``port`` check.
2. CPU: ``--services`` monitors (default durations: a probe every 2 s) on healthy HTTP servers that run
   in another process; the CPU time of this process over ``--seconds``, as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.config.model import HealthCheck, HealthKind
from devstack.health import HealthMonitor, HealthState, Prober


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


# the healthy servers of the CPU measurement, in a process of their own so their CPU is not counted
SERVERS = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(int(sys.argv[1]))]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print(json.dumps([s.server_address[1] for s in servers]), flush=True)
sys.stdin.read()  # until the benchmark closes it
"""


async def one_lag(prober: Prober, kind: HealthKind) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.server_bind()
    port = server.server_address[1]
    healthy = asyncio.Event()
    listening_at = 0.0
    healthy_at = 0.0

    def on_change(state: HealthState, message: str) -> None:
        nonlocal healthy_at
        if state is HealthState.HEALTHY:
            healthy_at = time.monotonic()
            healthy.set()

    def start_listening() -> None:
        nonlocal listening_at
        server.server_activate()
        listening_at = time.monotonic()
        threading.Thread(target=server.serve_forever, daemon=True).start()

    monitor = HealthMonitor("bench", HealthCheck(kind=kind, target="/"), prober, {"port": port},
                            on_change=on_change)
    task = asyncio.create_task(monitor.run())
    asyncio.get_running_loop().call_later(random.uniform(0.3, 0.6), start_listening)
    await asyncio.wait_for(healthy.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    server.shutdown()
    server.server_close()
    return healthy_at - listening_at


async def lag(runs: int) -> None:
    async with Prober() as prober:
        for kind in ("http", "port"):
            lags = [await one_lag(prober, kind) for _ in range(runs)]
            print(f"lag, {kind:4} check: median {statistics.median(lags) * 1000:.0f} ms, "
                  f"worst {max(lags) * 1000:.0f} ms ({runs} runs)")


async def cpu(ports: list[int], seconds: float) -> None:
    for kind in ("http", "port"):
        async with Prober() as prober:
            monitors = [HealthMonitor(f"s{i}", HealthCheck(kind=kind, target="/"), prober, {"port": p})
                        for i, p in enumerate(ports)]
            tasks = [asyncio.create_task(m.run()) for m in monitors]
            assert all(await asyncio.gather(*(m.wait_ready() for m in monitors)))
            wall, used = time.monotonic(), time.process_time()
            await asyncio.sleep(seconds)
            wall, used = time.monotonic() - wall, time.process_time() - used
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        print(f"cpu, {len(ports)} {kind:4} monitors: {used * 1000:.0f} ms CPU in {wall:.1f} s "
              f"= {used / wall * 100:.2f} % of a core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(lag(args.runs))
    servers = subprocess.Popen([sys.executable, "-c", SERVERS, str(args.services)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert servers.stdout is not None
        asyncio.run(cpu(json.loads(servers.stdout.readline()), args.seconds))
    finally:
        assert servers.stdin is not None
        servers.stdin.close()
        servers.wait(5)


if __name__ == "__main__":
    main()
