"""The control API of a running stack: HTTP (aiohttp) on a Unix socket, inside the supervisor's own
event loop and without touching its signal handling.

No TCP port: nothing fixed to collide on, nothing reachable from the network. The socket file is
created 0600 (under umask 0177, so there is no window where it is wider) inside the 0700 state
directory, and every connection's peer credentials (SO_PEERCRED) are checked against our own uid.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..supervisor import Supervisor

__all__ = ("ControlServer",)

log = logging.getLogger("devstack.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _peer_uid(request: web.Request) -> int | None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None  # macOS: the 0700 directory is the guard (getpeereid is not exposed by Python)
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


@web.middleware
async def _same_user_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    uid = _peer_uid(request)
    if uid is not None and uid != os.getuid():
        return web.json_response({"error": "this stack belongs to another user"}, status=403)
    return await handler(request)


class ControlServer:
    def __init__(self, sup: Supervisor, path: Path) -> None:
        self.sup = sup
        self.path = path
        self.app = web.Application(middlewares=[_same_user_only])
        self.app.add_routes(self.routes())
        self._runner: web.AppRunner | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/status", self.status),
        ]

    async def start(self) -> None:
        try:
            self.path.unlink()  # a stale socket of a dead run (a live one was refused earlier)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, shutdown_timeout=0.5).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.sup.snapshot())
