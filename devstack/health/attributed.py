"""Health probes of a socket-activated service (``socket = true``), attributed to one instance.

devstack holds the listening socket itself, so the kernel completes every connection to the port whether
or not any process of the service accepts it: a plain tcp probe would always pass, and with
``reload = "overlap"`` an http probe could be answered by the old instance while the new one is still
starting. So the probe connects, then looks (``/proc``, through psutil) at which process holds the
server end of that very connection once it is accepted:

- one of the instance's own processes: the check goes on over that connection (http: the request is
  sent on it and its status judged; tcp and the default port check: accepted is healthy);
- a process of another instance of the service (the one being replaced): the probe fails, "accepted by
  the previous instance", and is tried again;
- nobody within the check's ``timeout``: the probe fails, saying the service does not accept on its
  socket (it may ignore ``${FD}`` / ``LISTEN_FDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import struct
from collections.abc import Callable, Iterable

import psutil

from ..config.model import HealthCheck
from .probes import HOST, ProbeResult, format_seconds

__all__ = ("Owners", "probe_attributed")

# () -> (pids of the instance being probed, pids of the service's other live instances)
Owners = Callable[[], tuple[set[int], set[int]]]

POLL = 0.005  # between looks at who accepted the probe's connection
REFRESH = 0.1  # between looks at which processes the instances have (a pre-fork server's workers)
STATUS_LINE_MAX = 4096


async def probe_attributed(check: HealthCheck, port: int, owners: Owners, host: str = HOST) -> ProbeResult:
    """One probe of ``check`` (``http``, ``tcp`` or ``port``) on ``port``, counted only when a process
    of the instance ``owners`` names first accepts the connection."""
    limit = check.timeout
    where = f"{host}:{port}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeResult(False, f"connecting to {where} timed out after {format_seconds(limit)}")
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            return ProbeResult(False, f"connection refused on {where}")
        return ProbeResult(False, f"cannot connect to {where}: {exc.strerror or exc}")
    try:
        client = writer.get_extra_info("sockname")[:2]
        who = await _accepted_by((client[0], client[1]), port, owners, deadline)
        if who is None:
            return ProbeResult(False, f"no process of the service accepted a connection on {where} within "
                               f"{format_seconds(limit)} (does it serve the socket devstack passes: "
                               "${FD}, LISTEN_FDS?)")
        if who == "other":
            return ProbeResult(False, f"the connection on {where} was accepted by the previous instance")
        if check.kind != "http":
            return ProbeResult(True, f"{where} accepts connections")
        return await _http(check, reader, writer, where, max(0.0, deadline - loop.time()))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _accepted_by(client: tuple[str, int], port: int, owners: Owners, deadline: float) -> str | None:
    """"ours", "other", or None when no process of either accepted the connection before ``deadline``."""
    loop = asyncio.get_running_loop()
    ours: set[int] = set()
    others: set[int] = set()
    refreshed = float("-inf")
    while loop.time() < deadline:
        if loop.time() - refreshed >= REFRESH:
            ours, others = await asyncio.to_thread(owners)
            refreshed = loop.time()
        pid = await asyncio.to_thread(_holder, client, port, ours | others)
        if pid is not None:
            return "ours" if pid in ours else "other"
        await asyncio.sleep(POLL)
    return None


def _holder(client: tuple[str, int], port: int, pids: Iterable[int]) -> int | None:
    """Which of ``pids`` holds the server end of the connection from ``client`` to ``port``."""
    if hasattr(socket, "AF_NETLINK"):
        return _holder_linux(client, port, pids)
    for pid in pids:  # elsewhere (macOS): psutil, slower
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp4")
        except psutil.Error:
            continue
        for conn in conns:
            if conn.laddr and conn.laddr.port == port and conn.raddr \
                    and (conn.raddr.ip, conn.raddr.port) == client:
                return pid
    return None


_NETLINK_INET_DIAG = 4  # NETLINK_SOCK_DIAG
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF


def _inode(client: tuple[str, int], port: int) -> int | None:
    """Linux: the inode of the server end of the connection ``client`` -> ``port``, asked of the kernel
    with one sock_diag request for that exact socket (what ``ss`` uses); 0 while it waits in the accept
    queue, None if there is no such connection. (Reading /proc/net/tcp instead costs tens of
    milliseconds on a machine with thousands of connections in TIME_WAIT.)"""
    ip = socket.inet_aton(client[0])
    sockid = struct.pack(">HH", port, client[1]) + ip.ljust(16, b"\0") + ip.ljust(16, b"\0") \
        + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    body = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    header = struct.pack("=IHHII", 16 + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_INET_DIAG) as nl:
        nl.settimeout(1.0)
        nl.sendto(header + body, (0, 0))
        reply = nl.recv(8192)
    if len(reply) < 16 or struct.unpack_from("=H", reply, 4)[0] == _NLMSG_ERROR:
        return None
    inode: int = struct.unpack_from("=I", reply, 16 + 68)[0]
    return inode


def _holder_linux(client: tuple[str, int], port: int, pids: Iterable[int]) -> int | None:
    inode = _inode(client, port)
    if not inode:
        return None
    link = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                    return pid
            except OSError:
                continue
    return None


async def _http(check: HealthCheck, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                where: str, limit: float) -> ProbeResult:
    path = check.target if check.target.startswith("/") else f"/{check.target}"
    request = (f"GET {path} HTTP/1.1\r\nHost: {where}\r\nUser-Agent: devstack-health\r\n"
               "Connection: close\r\n\r\n").encode()
    try:
        async with asyncio.timeout(limit):
            writer.write(request)
            await writer.drain()
            line = await reader.readuntil(b"\n")
    except TimeoutError:
        return ProbeResult(False, f"GET {path} timed out after {format_seconds(check.timeout)}")
    except asyncio.IncompleteReadError:
        return ProbeResult(False, f"GET {path}: connection closed without a response")
    except asyncio.LimitOverrunError:
        return ProbeResult(False, f"GET {path}: not a valid HTTP response")
    except OSError:  # reset, broken pipe
        return ProbeResult(False, "connection reset")
    parts = line[:STATUS_LINE_MAX].decode("latin-1").split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeResult(False, f"GET {path}: not a valid HTTP response")
    code = int(parts[1])
    return ProbeResult(200 <= code < 400, f"GET {path} returned {code}")
