"""A client that keeps a server busy: GET / on a new connection, one request after another, from a
process of its own, recording every answer and every failure — to show that a reload refused nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from typing import Any

from conftest import wait_for

# Sends GET / to 127.0.0.1:PORT one request after another, each on a new connection, until its stdin
# closes (or LIMIT requests, or 60 s); prints "V <body>" the first time each answer is seen, then a JSON
# record: the latency of each answered request (with when it was sent) and each failure's exception.
CLIENT = """
import http.client, json, sys, threading, time
port, limit = int(sys.argv[1]), int(sys.argv[2])
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
answered, failures, seen = [], [], set()
t0 = time.perf_counter()
while not stop.is_set() and len(answered) + len(failures) < limit and time.perf_counter() - t0 < 60:
    began = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode()
        if resp.status != 200:
            raise ValueError(f"status {resp.status}")
        answered.append((began - t0, time.perf_counter() - began))
        if body not in seen:
            seen.add(body)
            print("V", body, flush=True)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        failures.append((began - t0, type(exc).__name__))
        time.sleep(0.001)  # a refused connect fails at once: do not spin
    finally:
        conn.close()
print("RESULT", json.dumps({"answered": answered, "failures": failures}), flush=True)
"""


class Client:
    """The client above, in a process of its own (so that it does not take the GIL from the test's
    threads that read devstack's output)."""

    def __init__(self, port: int, limit: int = 200_000) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), str(limit)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.versions: set[str] = set()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._result: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("V "):
                self.versions.add(line[2:].strip())
            elif line.startswith("RESULT "):
                self._result = json.loads(line[7:])

    def wait_for_version(self, version: str, timeout: float = 10.0) -> None:
        wait_for(lambda: version in self.versions or self.proc.poll() is not None, timeout=timeout,
                 message=f"version {version} to answer ({self.versions})")
        assert version in self.versions, f"the client ended before version {version} answered"

    def wait_for_answer(self, pattern: str, timeout: float = 15.0) -> str:
        """An answer (a body) matching ``pattern``, once one has been seen."""
        def seen() -> str | None:
            found = [v for v in list(self.versions) if re.search(pattern, v)]
            if not found and self.proc.poll() is not None:
                raise AssertionError(f"the client ended before an answer matched {pattern!r}")
            return found[0] if found else None

        return wait_for(seen, timeout=timeout, message=f"an answer matching {pattern!r} ({self.versions})")

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(15)
        self._thread.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.latencies = [lat for _, lat in self._result.get("answered", [])]
        self.failures = [name for _, name in self._result.get("failures", [])]
