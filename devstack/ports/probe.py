"""Is a port free, and if not, who holds it.

A port is probed by binding it, *without* ``SO_REUSEADDR``, on 127.0.0.1, 0.0.0.0 and (where the host
has IPv6) ::1. All three are needed: a wildcard listener elsewhere makes a loopback bind succeed on some
systems, and a service that bound only ::1 (Node resolving ``localhost``) is invisible to IPv4 probes.

Strict probing also refuses a port that only has connections lingering in TIME_WAIT, which is what a
restarted server leaves behind when it closed its clients' connections. Servers bind with
``SO_REUSEADDR`` and do not mind them, so for a port the project already owns (persisted or pinned)
``is_free(port, lingering_ok=True)`` asks the question that matters on Linux: is anyone *bound* there?

    >>> import socket
    >>> s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    >>> is_free(s.getsockname()[1])
    False
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from dataclasses import dataclass
from functools import cache

import psutil

__all__ = ("Holder", "has_ipv6_loopback", "holder", "is_free")

log = logging.getLogger("devstack.ports.probe")

_IS_LINUX = sys.platform.startswith("linux")
# bind() failures that mean "someone else has it"; EACCES: a privileged port, or a policy (SELinux) says no
_TAKEN = (errno.EADDRINUSE, errno.EACCES, errno.EPERM)


@cache
def has_ipv6_loopback() -> bool:
    """Can this machine bind ::1 (IPv6 present and not disabled)?"""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _addresses() -> list[tuple[socket.AddressFamily, str]]:
    addresses = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")]
    if has_ipv6_loopback():
        addresses.append((socket.AF_INET6, "::1"))
    return addresses


def _binds(family: socket.AddressFamily, host: str, port: int, reuse: bool) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in _TAKEN:
                return False
            raise
    return True


def is_free(port: int, *, lingering_ok: bool = False) -> bool:
    """True if ``port`` can be bound on every loopback and wildcard address.

    With ``lingering_ok`` (Linux only; elsewhere ``SO_REUSEADDR`` lets a bind slip past a listener), a
    port whose only users are closed connections in TIME_WAIT counts as free, as it does for a server
    that sets ``SO_REUSEADDR``.
    """
    for family, host in _addresses():
        if _binds(family, host, port, reuse=False):
            continue
        if lingering_ok and _IS_LINUX and _binds(family, host, port, reuse=True):
            continue
        return False
    return True


@dataclass(frozen=True)
class Holder:
    """The process that holds a port: what a user needs to find and stop it."""

    pid: int
    name: str
    cmdline: str

    def __str__(self) -> str:
        # one line, however the command was written (python -c "..." often spans several)
        cmd = " ".join((self.cmdline or self.name).split())
        return f"pid {self.pid} ({cmd if len(cmd) <= 160 else cmd[:159] + '…'})"


def holder(port: int, *, listening_only: bool = False) -> Holder | None:
    """The process listening on ``port`` (or, failing that and unless ``listening_only``, bound to it);
    None if it cannot be seen (another user's process without privileges, a container, macOS without
    root)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError) as e:
        log.debug("cannot list connections: %s", e)
        return None
    mine = [c for c in conns if c.laddr and c.laddr.port == port and c.pid
            and (not listening_only or c.status == psutil.CONN_LISTEN)]
    # a listener is the one to name; a connection's pid only when nothing listens
    mine.sort(key=lambda c: c.status != psutil.CONN_LISTEN)
    for conn in mine:
        assert conn.pid is not None
        try:
            proc = psutil.Process(conn.pid)
            name = proc.name()
        except psutil.Error:
            continue
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            cmdline = ""
        return Holder(pid=conn.pid, name=name, cmdline=cmdline)
    return None
