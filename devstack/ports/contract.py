"""The contract, verified: which TCP ports a service's processes really listen on, and what is wrong
with that.

Telling a service ``PORT=21432`` proves nothing; many tools ignore it and fall back to their own default
(vite's 5173, Flask's 5000), or bind every interface. devstack looks at the sockets the service's process
tree holds and says so in plain words, instead of leaving the user to wonder why a URL does not answer.

    >>> verify("web", {"port": 21433}, [Listen(99, "127.0.0.1", 5173)])[0].message  # doctest: +ELLIPSIS
    'web listens on 5173, not on its PORT 21433: ...'

Every finding names its fix, for the tool that really runs where it can tell (``fixes``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import psutil

from .fixes import Fixes
from .sockdiag import listening_inodes

__all__ = ("Finding", "FindingKind", "Listen", "listening", "verify")

log = logging.getLogger("devstack.ports.contract")

FindingKind = Literal["ignored_port", "not_listening", "missing_port", "exposed", "ipv6_only"]


class Listen(NamedTuple):
    """One listening TCP socket: the process holding it, its address and port."""

    pid: int
    ip: str
    port: int


@dataclass(frozen=True)
class Finding:
    """Something about a service's sockets a user should know. ``kind``:

    - ``ignored_port``: it listens, but not on the port it was given (and on another one instead);
    - ``not_listening``: it listens on nothing at all (the caller decides when that is worth saying);
    - ``missing_port``: one of its ports (a named one, usually) has no listener;
    - ``exposed``: it listens on a wildcard or external address, reachable from the network;
    - ``ipv6_only``: it listens on ::1 only, where devstack's URLs (127.0.0.1) do not reach it.
    """

    kind: FindingKind
    message: str
    port: int | None = None

    def __str__(self) -> str:
        return self.message


def listening(pids: Iterable[int]) -> list[Listen]:
    """The TCP sockets in LISTEN state held by ``pids``, sorted and without repeats. A socket shared by
    a pre-forked server and its workers is reported for each. A process that is gone or not ours to
    inspect is skipped.

    On Linux: the socket inodes in each process's ``/proc/PID/fd``, matched against the listening
    sockets the kernel lists through sock_diag (``sockdiag``). psutil's ``net_connections`` formats the
    machine's whole socket table again for every process: with thousands of connections in TIME_WAIT,
    that took seconds for a 20-service ``devstack status``."""
    wanted = set(pids)
    if sys.platform.startswith("linux"):
        try:
            return _listening_procfs(wanted)
        except OSError as exc:  # no /proc: fall back to psutil
            log.debug("reading /proc for sockets failed (%s); asking psutil", exc)
    found: set[Listen] = set()
    for pid in wanted:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except psutil.AccessDenied:
            log.debug("cannot see the sockets of pid %d", pid)
            continue
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                found.add(Listen(pid, _plain_ip(conn.laddr.ip), conn.laddr.port))
    return sorted(found, key=lambda s: (s.port, s.ip, s.pid))


_LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp


def _listening_procfs(pids: set[int]) -> list[Listen]:
    owners: dict[int, set[int]] = {}  # socket inode -> pids holding it
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except (FileNotFoundError, PermissionError, ProcessLookupError, NotADirectoryError):
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(int(target[8:-1]), set()).add(pid)
    if not owners:
        return []
    try:
        table = listening_inodes()
    except OSError:  # no sock_diag (an old kernel, a sandbox): the slower text tables
        table = _proc_net_listening()
    found = {Listen(pid, _plain_ip(ip), port)
             for inode, (ip, port) in table.items() if inode in owners for pid in owners[inode]}
    return sorted(found, key=lambda s: (s.port, s.ip, s.pid))


def _proc_net_listening() -> dict[int, tuple[str, int]]:
    table: dict[int, tuple[str, int]] = {}
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            with open(path) as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) >= 10 and fields[3] == _LISTEN_STATE:
                        table[int(fields[9])] = _proc_address(fields[1], family)
        except FileNotFoundError:  # no IPv6
            continue
    return table


def _proc_address(field: str, family: socket.AddressFamily) -> tuple[str, int]:
    """``0100007F:53E5`` (the address as 32-bit words in host order, the port, in hex) -> 127.0.0.1, 21477."""
    hex_ip, hex_port = field.split(":")
    raw = b"".join(struct.pack("=I", int(hex_ip[i:i + 8], 16)) for i in range(0, len(hex_ip), 8))
    return socket.inet_ntop(family, raw), int(hex_port, 16)


def _plain_ip(ip: str) -> str:
    """``::ffff:127.0.0.1`` is 127.0.0.1 as far as a user is concerned."""
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%")[0]).is_loopback
    except ValueError:
        return False


def _what(service: str, key: str) -> str:
    return "its PORT" if key == "port" else f"its {key} port"


def _how(service: str, key: str, fixes: Fixes) -> str:
    return fixes.port if key == "port" else f"use ${{{service}.ports.{key}}}"


def _ports(ports: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(set(ports)))


def verify(service: str, expected: Mapping[str, int], listens: Sequence[Listen],
           fixes: Fixes | None = None) -> list[Finding]:
    """Compare what ``service`` was told (port key -> port) with what it listens on (``listening()``);
    ``fixes``: what to tell it, for its tool (``Fixes.of``; else the generic advice).

    Ports it listens on beyond the expected ones are no finding by themselves (a debugger, a live-reload
    socket); they are named when an expected port is missing, since that is usually where it went."""
    fixes = fixes or Fixes.of("", [])
    findings: list[Finding] = []
    if not listens:
        if expected:
            findings.append(Finding(
                "not_listening",
                f"{service} does not listen on any TCP port; it was given {_expected(expected)}: set "
                f"port = false if it serves nothing, else {fixes.port}",
                next(iter(expected.values()))))
        return findings

    by_port: dict[int, set[str]] = {}
    for sock in listens:
        by_port.setdefault(sock.port, set()).add(sock.ip)
    wanted = set(expected.values())
    elsewhere = [p for p in by_port if p not in wanted]

    for key, port in expected.items():
        if port in by_port:
            continue
        if elsewhere:
            findings.append(Finding(
                "ignored_port",
                f"{service} listens on {_ports(elsewhere)}, not on {_what(service, key)} {port}: "
                f"{_how(service, key, fixes)}", port))
        else:
            findings.append(Finding(
                "missing_port",
                f"{service} does not listen on {_what(service, key)} {port}: {_how(service, key, fixes)}",
                port))

    for port in sorted(by_port):
        ips = by_port[port]
        outside = sorted(ip for ip in ips if not _is_loopback(ip))
        if outside:
            shown = " and ".join(f"[{ip}]" if ":" in ip else ip for ip in outside)
            findings.append(Finding(
                "exposed",
                f"{service} listens on {shown} port {port}, reachable from the network: {fixes.bind}", port))
        elif port in wanted and not any(ip.startswith("127.") for ip in ips):
            findings.append(Finding(
                "ipv6_only",
                f"{service} listens on [::1] port {port} only, where http://127.0.0.1:{port} cannot "
                f"reach it: {fixes.bind} (rather than localhost)", port))
    return findings


def _expected(expected: Mapping[str, int]) -> str:
    return ", ".join(f"{'PORT' if key == 'port' else key} {port}" for key, port in expected.items())
