"""Where one service's startup time goes under ``devstack up``: launch -> devstack's "started" line (its
own start: the interpreter, imports, config, ports) -> the server answering -> devstack's "healthy" line.
W1 in run.py measures the whole; this splits it, for work on devstack's fixed cost.

    .venv/bin/python bench/startup_phases.py [--runs 10] [--devstack PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def one_run(devstack: str, project: Path, port: int) -> dict[str, float]:
    began = time.perf_counter()
    proc = subprocess.Popen([devstack, "up", "--no-color", "--no-watch"], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    out, seen = b"", dict[str, float]()
    deadline = began + 30
    try:
        while len(seen) < 3:
            if time.perf_counter() > deadline:
                raise SystemExit(f"no start within 30 s:\n{out.decode(errors='replace')}")
            out += proc.stdout.read() or b""
            now = time.perf_counter() - began
            if b"started (pid" in out:
                seen.setdefault("started", now)
            if b"healthy in" in out:
                seen.setdefault("healthy", now)
            if "answering" not in seen and answers(port):
                seen["answering"] = now
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--devstack", default=shutil.which("devstack", path=str(Path(sys.executable).parent)),
                        help="the devstack command (default: beside this interpreter)")
    args = parser.parse_args()
    if not args.devstack:
        parser.error("no devstack command beside this interpreter: pass --devstack PATH")
    with tempfile.TemporaryDirectory(prefix="devstack-phases-") as tmp:
        project = Path(tmp)
        port = free_port()
        (project / "server.py").write_text(SERVER)
        (project / "devstack.toml").write_text(
            f'[services.web]\ncmd = ["{sys.executable}", "server.py"]\nport = {port}\n')
        devstack = str(Path(args.devstack).absolute())
        runs = [one_run(devstack, project, port) for _ in range(args.runs)]
    for phase in ("started", "answering", "healthy"):
        values = sorted(r[phase] * 1000 for r in runs)
        print(f"launch -> {phase:<9}  min {values[0]:4.0f} ms  median {statistics.median(values):4.0f} ms  "
              f"max {values[-1]:4.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
