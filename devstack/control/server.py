"""The control API of a running stack: HTTP (``control.http``) on a Unix socket, inside the supervisor's
own event loop and without touching its signal handling.

No TCP port: nothing fixed to collide on, nothing reachable from the network. The socket file is
created 0600 (under umask 0177, so there is no window where it is wider) inside the 0700 state
directory, and every connection's peer credentials (SO_PEERCRED) are checked against our own uid.

    GET  /status                       the stack and every service (state, pid, ports, findings...)
    POST /start   {"names": [...]}     start services (and what they depend on)
    POST /stop    {"names": [...]}     stop services until started again
    POST /restart {"names": [...]}     restart, and answer once they are ready again
    POST /down                         stop the whole stack, as Ctrl-C does
    GET  /logs?name=..&n=..&follow=1   recent lines, then (follow) new ones as they come
    GET  /wait?name=..&timeout=..      answer when the services are ready, or one failed
    POST /attach?name=..               (Upgrade: devstack-attach) a terminal on an interactive service
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import stat
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..files import StateError, describe, state_error
from ..grep import compile_grep
from ..readiness import READY, failure, settle
from .attach import attach_route
from .http import HTTPError, HTTPServer, Request, Response, Stream
from .paths import SocketPlace

if TYPE_CHECKING:
    from ..supervisor import Supervisor

__all__ = ("ControlServer",)

log = logging.getLogger("devstack.control")


def _refusal(sock: socket.socket | None) -> str | None:
    """Why a peer may not use the socket (another user), or None."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None  # macOS: the 0700 directory is the guard (getpeereid is not exposed by Python)
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return "this stack belongs to another user" if uid != os.getuid() else None


class ControlServer:
    def __init__(self, sup: Supervisor, place: SocketPlace) -> None:
        self.sup = sup
        self.path = place.path
        self.place = place
        self.http = HTTPServer({
            ("GET", "/status"): self.status,
            ("POST", "/start"): self.start_services,
            ("POST", "/stop"): self.stop_services,
            ("POST", "/restart"): self.restart_services,
            ("POST", "/down"): self.down,
            ("GET", "/logs"): self.logs,
            ("GET", "/wait"): self.wait,
            ("POST", "/attach"): attach_route(sup),
        }, authorise=_refusal, report=lambda text: sup.printer.event(text, error=True))

    async def start(self) -> None:
        """Listen, or raise ``StateError`` naming the path and why not (before any service starts)."""
        self._clear_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        except OSError as exc:
            sock.close()
            raise state_error(self.path, exc, "listen on") from None
        finally:
            os.umask(old)
        await self.http.start(sock)

    def _clear_stale(self) -> None:
        """Remove a stale socket of a dead run (a live one was refused earlier, by the project lock);
        anything else at the path is not devstack's to remove."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise state_error(self.path, exc, "use") from None
        if not stat.S_ISSOCK(st.st_mode):
            rm = "rm -r" if stat.S_ISDIR(st.st_mode) else "rm"
            raise StateError(f"{self.path} is {describe(st.st_mode)}, not devstack's control socket: "
                             f"remove it ({rm} {self.path}) and run again")
        try:
            self.path.unlink()
        except OSError as exc:
            raise state_error(self.path, exc, "replace") from None

    async def close(self) -> None:
        await self.http.close()
        try:
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                self.path.unlink()
            if self.place.made is not None:
                self.place.made.rmdir()
        except OSError:
            pass

    # -- helpers --------------------------------------------------------------------------------

    def _names(self, raw: list[str] | None, *, default_all: bool) -> list[str]:
        names = list(raw or [])
        if not names and default_all:
            return list(self.sup.runners)
        unknown = [n for n in names if n not in self.sup.config.services]
        if unknown:
            raise HTTPError(404, f"no such service: {', '.join(unknown)}; "
                                 f"services: {', '.join(self.sup.config.services)}")
        return names

    def _body_names(self, request: Request) -> list[str]:
        body = request.json()
        names = body.get("names", []) if isinstance(body, dict) else []
        if not names or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise HTTPError(400, "name at least one service")
        return self._names(names, default_all=False)

    # -- routes ---------------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        return Response(self.sup.snapshot())

    async def start_services(self, request: Request) -> Response:
        names = self._body_names(request)
        return Response({"started": self.sup.start_services(names)})

    async def stop_services(self, request: Request) -> Response:
        names = self._body_names(request)
        stopping = self.sup.stop_services(names)
        await asyncio.gather(*(self.sup.runners[n].wait_parked() for n in stopping))
        return Response({"stopped": stopping})

    async def restart_services(self, request: Request) -> Response:
        names = self._body_names(request)
        within = _number(request, "timeout", 120, low=0, high=MAX_WAIT)
        states = await self.sup.restart_services(names, within=within)
        return Response({"services": states})

    async def down(self, request: Request) -> Response:
        self.sup.request_stop("devstack down")
        longest = max((svc.stop_timeout for svc in self.sup.config.services.values()), default=0.0)
        return Response({"stopping": True, "pid": os.getpid(), "stop_timeout": longest})

    async def logs(self, request: Request) -> Stream:
        """Recent lines (``since`` an epoch time, matching ``grep``, the last ``n``), then with
        ``follow`` new ones (matching ``grep``) until the client goes away."""
        names = self._names(request.args("name"), default_all=True)
        pattern = request.arg("grep")
        try:  # RE2: linear time whatever the pattern, so no client's grep can stall the loop
            grep = compile_grep(pattern) if pattern is not None else None
        except ValueError as exc:
            raise HTTPError(400, f"grep: {exc}") from None
        since = _number(request, "since", 0, low=0)
        n = int(_number(request, "n", 0, low=0, integer=True))
        buffer = self.sup.printer.buffer
        follow = bool(request.arg("follow"))

        async def chunks() -> AsyncIterator[bytes]:
            # taken together, with no await between: no line falls between the recent ones and the
            # followed ones; and the generator, once started, always unfollows
            lines = [e for e in buffer.recent(names)
                     if e[0] >= since and (grep is None or grep.search(e[2]))]
            lines = lines[-n:] if n else lines
            queue = buffer.follow(names) if follow else None
            try:
                for t, name, text in lines:
                    yield _ndjson(t, name, text)
                while queue is not None:
                    entry = await queue.get()
                    if entry is None:
                        yield _ndjson(0, "devstack", "[log stream dropped: the reader fell behind]")
                        break
                    t, name, text = entry
                    for line in text.split("\n"):
                        if grep is None or grep.search(line):
                            yield _ndjson(t, name, line)
            finally:
                if queue is not None:
                    buffer.unfollow(queue)

        return Stream(chunks())

    async def wait(self, request: Request) -> Response:
        """Answer once every named service is ready (``ok``), or one has failed, or ``timeout``."""
        names = self._names(request.args("name"), default_all=True)
        deadline = _number(request, "timeout", 60, low=0, high=MAX_WAIT)
        runners = [self.sup.runners[n] for n in names if n in self.sup.runners]
        try:
            async with asyncio.timeout(deadline):
                await settle(runners, lambda: self.sup.stopping)
        except TimeoutError:
            waiting = [r.service.name for r in runners if r.phase not in READY]
            return Response({"ok": False, "timeout": True, "waiting": waiting,
                             "services": {r.service.name: r.phase.value for r in runners}})
        failed = [r.service.name for r in runners if failure(r) is not None]
        return Response({"ok": not failed, "timeout": False, "failed": failed,
                         "why": {r.service.name: failure(r) for r in runners if failure(r)},
                         "services": {r.service.name: r.phase.value for r in runners}})


MAX_WAIT = 7 * 24 * 3600.0  # a week: longer than any wait a person or a CI job means


def _number(request: Request, key: str, default: float, *, low: float, high: float = 1e15,
            integer: bool = False) -> float:
    """Query parameter ``key`` as a finite number in ``[low, high]`` (a whole one if ``integer``);
    anything else (``inf``, ``nan``, ``-1``, ``1e400``, ``x``) is a 400 saying which and why."""
    raw = request.arg(key)
    if raw is None:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = float(raw)
    except ValueError:
        raise HTTPError(400, f"{key}: expected {kind}, found {raw[:40]!r}") from None
    if not math.isfinite(value) or (integer and not value.is_integer()):
        raise HTTPError(400, f"{key}: expected {kind}, found {raw[:40]!r}")
    if not low <= value <= high:
        raise HTTPError(400, f"{key}: expected {kind} from {low:g} to {high:g}, found {raw[:40]!r}")
    return value



def _ndjson(t: float, name: str, text: str) -> bytes:
    return (json.dumps({"time": t, "service": name, "line": text}) + "\n").encode()
