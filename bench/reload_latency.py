"""From a file write to the new version answering: devstack against nodemon and the watchfiles CLI.

The same stdlib HTTP server (it answers GET / with its VERSION) runs under each tool. Each round writes a
new VERSION into the server's file and polls GET / every 2 ms until the new version answers; the
latency is the time from the write to that answer (median, p90 of ``--rounds``). Then, under devstack
only, storms of ``--storm`` files written at once: restarts per storm, and the time from the storm's
last write until the new instance answers ("settled").

    .venv/bin/python bench/reload_latency.py [--rounds 20] [--storm 200] [--storms 5] [--no-nodemon]

nodemon is installed with npm into a temporary directory when npm is on PATH (skipped otherwise).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
SERVER = '''\
import http.server, os
VERSION = "{version}"
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(VERSION.encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port: int) -> str | None:
    try:
        with OPENER.open(f"http://127.0.0.1:{port}/", timeout=1) as resp:
            return resp.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def wait_version(port: int, version: str, deadline: float = 15.0) -> float:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if get(port) == version:
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError(f"version {version} never answered on {port}")


def write_server(path: Path, version: str) -> None:
    path.write_text(SERVER.format(version=version))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Output:
    """A child's stdout, collected in a thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._stdout = proc.stdout
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in iter(self._stdout.readline, b""):
            with self._lock:
                self.text += line.decode("utf-8", "replace")

    def count(self, pattern: str) -> int:
        with self._lock:
            return len(re.findall(pattern, self.text, re.MULTILINE))


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def rounds(app: Path, port: int, n: int) -> list[float]:
    lags = []
    for i in range(n):
        version = f"v{i}-{time.monotonic_ns()}"
        # let the previous restart settle; and stay under devstack's loop guard (a service restarted more
        # than 10 times in 10 s is paused: it cannot tell these writes from the service's own)
        time.sleep(1.1)
        written = time.monotonic()
        write_server(app, version)
        lags.append(wait_version(port, version) - written)
    return lags


def report(name: str, lags: list[float]) -> None:
    ms = sorted(x * 1000 for x in lags)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    print(f"{name:<12} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   "
          f"min {ms[0]:6.1f}   max {ms[-1]:7.1f}   (n={len(ms)})")


def devstack(root: Path, args: argparse.Namespace) -> None:
    project = root / "devstack"
    (project / "app").mkdir(parents=True)
    app = project / "app" / "server.py"
    write_server(app, "start")
    (project / "devstack.toml").write_text(
        "[services.app]\n"
        f'cmd = "{sys.executable} server.py"\n'
        'cwd = "app"\nwatch = true\n'
        'health = { http = "/", start_interval = "10ms" }\n')
    env = {**os.environ, "XDG_STATE_HOME": str(root / "state"), "NO_COLOR": "1"}
    proc = subprocess.Popen([str(VENV_BIN / "devstack"), "up", "--no-timestamps"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    out = Output(proc)
    try:
        deadline = time.monotonic() + 20
        while not out.count(r"app healthy in"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"devstack did not start:\n{out.text}")
            time.sleep(0.01)
        import tomllib

        port = tomllib.loads((project / ".devstack" / "ports.toml").read_text())["app"]["port"]
        report("devstack", rounds(app, port, args.rounds))
        storm_dir = project / "app" / "pkg"
        storm_dir.mkdir()
        time.sleep(0.5)
        per_storm, settled = [], []
        for s in range(args.storms):
            before = out.count(r"app restarting:")
            version = f"storm{s}"
            for i in range(args.storm):
                (storm_dir / f"m{i:03d}.py").write_text(f"v = {s}\n")
            write_server(app, version)  # the last write of the storm
            last = time.monotonic()
            settled.append(wait_version(port, version) - last)
            time.sleep(1.5)  # any second restart of this storm would have come by now (and the loop guard)
            per_storm.append(out.count(r"app restarting:") - before)
        print(f"storm of {args.storm + 1} files x {args.storms}: restarts per storm {per_storm}; settled "
              f"(last write -> new version answers) median {statistics.median(settled) * 1000:.0f} ms, "
              f"max {max(settled) * 1000:.0f} ms")
    finally:
        stop(proc)


def other_tool(name: str, root: Path, argv_of: object, rounds_n: int) -> None:
    directory = root / name
    directory.mkdir()
    app = directory / "server.py"
    write_server(app, "start")
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    argv = argv_of(directory)  # type: ignore[operator]
    proc = subprocess.Popen(argv, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out = Output(proc)
    try:
        try:
            wait_version(port, "start", 20)
        except TimeoutError:
            raise RuntimeError(f"{name} did not start:\n{out.text}") from None
        time.sleep(0.5)
        report(name, rounds(app, port, rounds_n))
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--storm", type=int, default=200)
    parser.add_argument("--storms", type=int, default=5)
    parser.add_argument("--no-nodemon", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory(prefix="reload-bench-") as tmp:
        root = Path(tmp)
        devstack(root, args)
        watchfiles = VENV_BIN / "watchfiles"
        if watchfiles.exists():
            other_tool("watchfiles", root, lambda d: [str(watchfiles), f"{sys.executable} server.py", str(d)],
                       args.rounds)
        npm = shutil.which("npm")
        if npm and not args.no_nodemon:
            tools = root / "node"
            tools.mkdir()
            subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "nodemon"], cwd=tools,
                           check=True, stdout=subprocess.DEVNULL)
            nodemon = tools / "node_modules" / ".bin" / "nodemon"
            other_tool("nodemon", root, lambda d: [str(nodemon), "--watch", str(d), "-e", "py", "--exec",
                                                   f"{sys.executable} server.py"], args.rounds)


if __name__ == "__main__":
    main()
