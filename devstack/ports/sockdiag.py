"""Listening TCP sockets of the machine, from the kernel's sock_diag netlink interface (what ``ss -ltn``
uses), filtered by the kernel to the LISTEN state.

Reading ``/proc/net/tcp`` makes the kernel format every socket of the machine, listening or not: with
thousands of connections in TIME_WAIT (a test suite, a load test) that alone takes most of a second.
sock_diag returns only the listening sockets. Linux only; callers fall back elsewhere.
"""

from __future__ import annotations

import socket
import struct

__all__ = ("listening_inodes",)

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10

_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI")  # family, protocol, ext, pad, states; then a zeroed inet_diag_sockid
_SOCKID_LEN = 48
_MSG_HEAD = struct.Struct("=BBBB")  # family, state, timer, retrans
_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode


def listening_inodes() -> dict[int, tuple[str, int]]:
    """Socket inode -> (local address, port) of every TCP socket in LISTEN state (IPv4 and IPv6).
    Raises OSError where sock_diag is not available."""
    found: dict[int, tuple[str, int]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as sock:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            body = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN) + bytes(_SOCKID_LEN)
            sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY,
                                     NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
            _receive(sock, family, found)
    return found


def _receive(sock: socket.socket, family: int, found: dict[int, tuple[str, int]]) -> None:
    addr_len = 4 if family == socket.AF_INET else 16
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                (errno,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                raise OSError(-errno, "sock_diag request refused")
            msg = offset + _NLMSGHDR.size
            fam, state = _MSG_HEAD.unpack_from(data, msg)[:2]
            if fam == family and state == TCP_LISTEN:
                sockid = msg + _MSG_HEAD.size
                (port,) = struct.unpack_from("!H", data, sockid)
                raw = data[sockid + 4:sockid + 4 + addr_len]
                inode = _MSG_TAIL.unpack_from(data, sockid + _SOCKID_LEN)[4]
                found[inode] = (socket.inet_ntop(family, raw), port)
            if length <= 0:
                return
            offset += (length + 3) & ~3
