"""Reloads under load: failed requests and the latency a restart adds, without and with socket activation.

A stdlib HTTP server (graceful on SIGTERM) runs under ``devstack up`` three ways: binding ``PORT`` itself
(plain stop-then-start), on devstack's socket (``socket = true``), and on the socket with
``reload = "overlap"``. A client process sends GET / one request after another, each on a new
connection, without pause; meanwhile the server's file is rewritten ``--reloads`` times, each time once
the previous version is gone and the new one answers. Reported per mode: requests answered and failed,
and request latency p50/p99, for requests sent during a reload (from the write until the new version has
answered) and for the rest ("steady").

    .venv/bin/python bench/socket_reload.py [--reloads 20] [--append bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import tomli_w

VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_socket import APP, CLIENT  # noqa: E402  (the test's server and client, measured here)

MODES = {
    "port (stop, start)": {},
    "socket = true": {"socket": True},
    "socket + overlap": {"socket": True, "reload": "overlap"},
}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def run_mode(root: Path, service: dict[str, Any], reloads: int) -> dict[str, Any]:
    (root / "app").mkdir(parents=True)
    (root / "app" / "app.py").write_text(APP.format(version="1"))
    web = {"cmd": [sys.executable, "app.py"], "cwd": "app", "watch": True,
           "health": {"http": "/", "start_interval": "20ms", "interval": "1s", "timeout": "1s"}, **service}
    (root / "devstack.toml").write_text(tomli_w.dumps({"services": {"web": web}}))
    log = root / "devstack.out"
    env = {**os.environ, "XDG_STATE_HOME": str(root / ".xdg")}
    with log.open("wb") as out:
        devstack = subprocess.Popen([str(VENV_BIN / "devstack"), "up", "--no-timestamps"], cwd=root,
                                    stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
    try:
        wait(lambda: "web healthy in" in log.read_text(), 20, "the first start")
        port = int(json.loads(subprocess.run([str(VENV_BIN / "devstack"), "ports", "--json"], cwd=root,
                                             env=env, capture_output=True, text=True, check=True).stdout)
                   ["services"][0]["ports"]["port"])
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), "10000000"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        seen: dict[str, float] = {}
        result: dict[str, Any] = {}
        started = time.perf_counter()  # ~ the client's own t0, for telling reload windows apart

        def read() -> None:
            assert client.stdout is not None
            for line in client.stdout:
                if line.startswith("V "):
                    seen[line[2:].strip()] = time.perf_counter() - started
                elif line.startswith("RESULT "):
                    result.update(json.loads(line[7:]))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        wait(lambda: "1" in seen, 10, "the first answer")
        time.sleep(0.5)
        windows = []
        for i in range(2, reloads + 2):
            began = time.perf_counter() - started
            (root / "app" / "app.py").write_text(APP.format(version=i))
            wait(lambda v=str(i): v in seen, 30, f"version {i}")
            wait(lambda n=i - 1: log.read_text().count("web restarted, healthy in") >= n, 30,
                 f"restart {i - 1}")
            windows.append((began, seen[str(i)] + 0.05))
            # some steady traffic between reloads, and no more than one a second (devstack's loop guard
            # pauses a service restarted more than 10 times in 10 s by changes)
            time.sleep(max(0.3, 1.1 - (time.perf_counter() - started - began)))
        assert client.stdin is not None
        client.stdin.close()
        client.wait(30)
        reader.join(10)
        assert client.stdout is not None
        client.stdout.close()
    except SystemExit:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        devstack.send_signal(signal.SIGTERM)
        devstack.wait(30)

    def in_reload(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    during = [lat for t, lat in result["answered"] if in_reload(t)]
    steady = [lat for t, lat in result["answered"] if not in_reload(t)]
    return {"answered": len(result["answered"]), "failed": len(result["failures"]),
            "kinds": sorted({k for _, k in result["failures"]}),
            "reload_s": statistics.median(b - a for a, b in windows),
            "steady": steady, "during": during}


def table(results: dict[str, dict[str, Any]], reloads: int) -> str:
    ms = 1000.0
    lines = [f"{reloads} reloads per mode; one client, requests back to back on new connections "
             f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]})", "",
             "| mode | answered | failed | median reload (s) | steady p50 / p99 (ms) "
             "| during reloads p50 / p99 / max (ms) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for mode, r in results.items():
        failed = f"{r['failed']}" + (f" ({', '.join(r['kinds'])})" if r["kinds"] else "")
        lines.append(
            f"| {mode} | {r['answered']} | {failed} | {r['reload_s']:.2f} | "
            f"{percentile(r['steady'], .5) * ms:.1f} / {percentile(r['steady'], .99) * ms:.1f} | "
            f"{percentile(r['during'], .5) * ms:.1f} / {percentile(r['during'], .99) * ms:.1f} / "
            f"{max(r['during'], default=float('nan')) * ms:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--modes", nargs="*", default=list(MODES), help="which modes to run")
    parser.add_argument("--append", type=Path, help="append the table to this Markdown file (if it exists)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="devstack-socket-bench-") as tmp:
        for i, (mode, service) in enumerate((m, MODES[m]) for m in args.modes):
            print(f"{mode}: {args.reloads} reloads...", file=sys.stderr, flush=True)
            results[mode] = run_mode(Path(tmp) / str(i), service, args.reloads)
    out = table(results, args.reloads)
    print(out)
    if args.append is not None and args.append.exists():
        with args.append.open("a") as f:
            f.write("\n\n## Socket activation: reloads under load (bench/socket_reload.py)\n\n" + out + "\n")


if __name__ == "__main__":
    main()
