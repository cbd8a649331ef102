"""``POST /attach?name=NAME`` with ``Upgrade: devstack-attach``: a terminal connected to an interactive
service's pty, over the control socket (so only its user can attach).

After ``101 Switching Protocols`` the server sends the service's screen as it is, raw bytes; the client
sends frames, each a kind byte, a big-endian 16-bit length and that many bytes:

    b"i"  keys typed, to the service
    b"w"  the window size: rows and columns, two big-endian 16-bit numbers

The client detaches by closing the connection; the server closes it when the service's terminal closes
(the instance ended) or the stack stops. The merged stream notes each attach and detach.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from ..wording import quote
from .http import HTTPError, Request, Upgrade

if TYPE_CHECKING:
    from ..supervisor import Supervisor

__all__ = ("INPUT", "PROTOCOL", "WINDOW", "Frames", "attach_route", "frame")

PROTOCOL = "devstack-attach"
INPUT = b"i"
WINDOW = b"w"
_HEAD = struct.Struct(">cH")
MAX_FRAME = 0xFFFF


def frame(kind: bytes, payload: bytes) -> bytes:
    """One frame (a payload longer than a frame holds is split into several)."""
    return b"".join(_HEAD.pack(kind, len(payload[i:i + MAX_FRAME])) + payload[i:i + MAX_FRAME]
                    for i in range(0, max(len(payload), 1), MAX_FRAME))


class Frames:
    """Whole frames out of a byte stream read in pieces."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        self._buf += data
        while len(self._buf) >= _HEAD.size:
            kind, length = _HEAD.unpack_from(self._buf)
            if len(self._buf) < _HEAD.size + length:
                return
            payload = bytes(self._buf[_HEAD.size:_HEAD.size + length])
            del self._buf[:_HEAD.size + length]
            yield kind, payload


def attach_route(sup: Supervisor) -> Callable[[Request], Awaitable[Upgrade]]:
    """The route: checks that NAME runs on a terminal, then serves the connection."""

    async def attach(request: Request) -> Upgrade:
        name = request.arg("name") or ""
        if name not in sup.config.services:
            known = ", ".join(sup.config.services)
            raise HTTPError(404, f"no such service: {quote(name)}; services: {known}")
        svc = sup.config.services[name]
        if not svc.interactive:
            raise HTTPError(409, f"{name} is not interactive: set interactive = true in [services.{name}] "
                                 "(devstack.toml, or your devstack.local.toml) and start the stack again, "
                                 "so that it runs on a terminal of its own")
        runner = sup.runners.get(name)
        proc = runner.process if runner is not None else None
        terminal = proc.terminal if proc is not None and not proc.exited else None
        if terminal is None or terminal.closed:
            raise HTTPError(409, f"{name} is not running (devstack start {name})")

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes) -> None:
            transport = writer.transport
            assert isinstance(transport, asyncio.WriteTransport)
            frames = Frames()
            terminal.attach(transport)
            sup.printer.event(f"{name}: a terminal attached (devstack attach)", name)
            try:
                data = first
                while True:
                    for kind, payload in frames.feed(data):
                        if kind == INPUT:
                            terminal.type(payload)
                        elif kind == WINDOW and len(payload) == 4:
                            terminal.resize(*struct.unpack(">HH", payload))
                    data = await reader.read(64 * 1024)
                    if not data:
                        break
            except ConnectionError:
                pass
            finally:
                terminal.detach(transport)
                sup.printer.event(f"{name}: the terminal detached; {name} keeps running"
                                  if not terminal.closed else f"{name}: the terminal detached", name)

        return Upgrade(PROTOCOL, serve)

    return attach
