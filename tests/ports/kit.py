"""Helpers for the port tests: a listening server process, an allocating process, a free test range.

Every process started here carries ``DEVSTACK_SERVICE`` in its environment, so the leak-checking fixture
watches it, and is ended (stdin closed, then waited for with a deadline, then killed) when its block ends.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import python

from devstack.ports import is_free

__all__ = ("Child", "allocator", "free_range", "result", "server")

_SERVER = """
import os, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind((host, port))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""

_ALLOCATE = """
import json, sys
from pathlib import Path
from devstack.config.model import PortSpec
from devstack.errors import PortError
from devstack.ports import allocate
root, lo, hi, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("ready", flush=True)
sys.stdin.readline()
try:
    a = allocate(Path(root), [(f"s{i}", PortSpec()) for i in range(n)], (lo, hi))
    print(json.dumps({"ports": a.ports, "warnings": a.warnings}), flush=True)
except PortError as e:
    print(json.dumps({"error": str(e)}), flush=True)
sys.stdin.read()  # hold the leases until stdin closes
"""


class Child:
    """A child process spoken to line by line, every read bounded by a deadline."""

    def __init__(self, argv: list[str]) -> None:
        env = {**os.environ, "DEVSTACK_SERVICE": "ports-test"}
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.pid = self.proc.pid

    def readline(self, timeout: float = 10.0) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise AssertionError(f"pid {self.pid} printed nothing within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"pid {self.pid} exited ({self.proc.wait(5)}) before printing")
        return line.strip()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def close(self) -> None:
        """Close stdin (the children exit on EOF); kill what does not exit within the deadline."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()


@contextmanager
def server(host: str, port: int = 0) -> Iterator[tuple[Child, int]]:
    """A process listening on ``host``:``port`` (0: a port the kernel picks); yields it and the port."""
    child = Child([*python(_SERVER), host, str(port)])
    try:
        yield child, int(child.readline())
    finally:
        child.close()


@contextmanager
def allocator(root: Path, port_range: tuple[int, int], n: int) -> Iterator[Child]:
    """A process ready to allocate ``n`` main ports for services s0..s{n-1} of ``root`` once it reads a
    line; it prints the result as JSON and holds its leases until the block ends."""
    child = Child([*python(_ALLOCATE), str(root), str(port_range[0]), str(port_range[1]), str(n)])
    try:
        assert child.readline() == "ready"
        yield child
    finally:
        child.close()


def result(child: Child, timeout: float = 20.0) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(child.readline(timeout))
    return data


def free_range(n: int) -> tuple[int, int]:
    """``n`` consecutive ports inside devstack's default pool that are free right now."""
    rng = random.Random(time.monotonic_ns())
    for _ in range(500):
        lo = rng.randrange(20000, 30000 - n)
        if all(is_free(p) for p in range(lo, lo + n)):
            return (lo, lo + n - 1)
    raise AssertionError(f"no {n} consecutive free ports found in 20000-29999")
