"""The pool ports are taken from, and where in it each project starts.

The pool must lie outside the kernel's ephemeral range: a port in that range can be taken at any moment
as the source port of an outgoing connection (a health check, a database client), for instance while its
service restarts, and the service then fails to bind. Linux uses 32768-60999 by default
(``/proc/sys/net/ipv4/ip_local_port_range``), macOS and Windows 49152-65535 (IANA); devstack's default
pool, 20000-29999, lies below both.

Each project prefers a block of ``BLOCK`` ports chosen from a hash of its absolute path, so two checkouts
(or two projects) rarely meet, and their ports read alike from run to run.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ("BLOCK", "DEFAULT_RANGE", "check_range", "ephemeral_range", "preferred_order")

DEFAULT_RANGE = (20000, 29999)
BLOCK = 100
_LINUX_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_IANA_EPHEMERAL = (49152, 65535)  # macOS, Windows, the BSDs


def ephemeral_range(source: Path = _LINUX_EPHEMERAL) -> tuple[int, int]:
    """The kernel's ephemeral port range: read on Linux, the IANA range elsewhere."""
    if not sys.platform.startswith("linux"):
        return _IANA_EPHEMERAL
    try:
        lo, hi = (int(p) for p in source.read_text().split())
    except (OSError, ValueError):
        return (32768, 60999)  # Linux's default
    return (lo, hi)


def check_range(lo: int, hi: int, *, ephemeral: tuple[int, int] | None = None) -> str | None:
    """Why ``lo``-``hi`` cannot be devstack's pool, or None if it can.

    >>> check_range(20000, 29999, ephemeral=(32768, 60999)) is None
    True
    >>> print(check_range(30000, 40000, ephemeral=(32768, 60999)))  # doctest: +ELLIPSIS
    port_range 30000-40000 overlaps the kernel's ephemeral ports 32768-60999, ...
    """
    if not 1024 <= lo <= hi <= 65535:
        return (f"port_range {lo}-{hi} is not a range within 1024-65535 with the low end first "
                "(ports below 1024 need privileges)")
    e_lo, e_hi = ephemeral or ephemeral_range()
    if lo <= e_hi and e_lo <= hi:
        return (f"port_range {lo}-{hi} overlaps the kernel's ephemeral ports {e_lo}-{e_hi}, which it hands "
                "out as source ports of outgoing connections: a service could find its port taken while it "
                f"restarts. Choose a range outside {e_lo}-{e_hi}, such as the default "
                f"{DEFAULT_RANGE[0]}-{DEFAULT_RANGE[1]}")
    return None


def preferred_order(project_root: Path, lo: int, hi: int) -> Iterator[int]:
    """Every port of ``lo``-``hi``, starting at the project's block and wrapping around.

    The block comes from a hash of the absolute path (not Python's ``hash``, which is salted per process),
    so it is the same in every run and every process.
    """
    size = hi - lo + 1
    blocks = max(1, size // BLOCK)
    digest = hashlib.sha256(str(project_root.absolute()).encode()).digest()
    start = lo + (int.from_bytes(digest[:8], "big") % blocks) * BLOCK
    yield from range(start, hi + 1)
    yield from range(lo, start)
