"""HTTP/1.1 for the control socket: h11 (the protocol; the health probes' parser already) on asyncio's
streams, inside the supervisor's event loop.

The API is a handful of JSON routes and one stream of lines, for one local client at a time; a web
framework would cost more to import (aiohttp: ~0.2 s of CPU at every start, ~9 MB) than everything
here. What it does: route on method and path, parse the query and a JSON body (up to ``MAX_BODY``),
answer JSON with a length, or stream chunks until the generator ends or the client goes away (its
connection closing cancels the generator, which can then unregister what it follows), keep a
connection alive between requests, refuse a peer ``authorise`` rejects, and answer what is not HTTP
with a 400 and a closed connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from ..aio import first
from ..errors import describe_error

__all__ = ("HTTPError", "HTTPServer", "Request", "Response", "Route", "Stream", "Upgrade")

log = logging.getLogger("devstack.control")

MAX_BODY = 1024 * 1024
# connections the kernel holds for us while the loop is busy (asyncio's default is 100: a burst of
# `devstack status` from a script or a test suite overflowed it, and a client then got EAGAIN)
BACKLOG = 1024
# connections served at once: each holds a descriptor, and 500 idle ones once ran the supervisor out of
# them. Beyond it, clients wait in the backlog; one that sends no request for IDLE_TIMEOUT is closed,
# and at the cap the longest idle one (idle for over IDLE_GRACE) is closed to make room.
MAX_CONNECTIONS = 128
IDLE_TIMEOUT = 10.0
IDLE_GRACE = 0.5
ACCEPT_RETRY = 1.0  # after an accept that failed for want of descriptors (asyncio's own delay)
_OUT_OF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
READ = 64 * 1024


class HTTPError(Exception):
    """Raised by a route: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    upgrade: str = ""  # the protocol an Upgrade header asks for

    def arg(self, key: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``key``."""
        values = self.query.get(key)
        return values[-1] if values else default

    def args(self, key: str) -> list[str]:
        return list(self.query.get(key, []))

    def json(self) -> Any:
        """The body as JSON ({} when there is none); a 400 when it is not JSON."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPError(400, "expected a JSON body") from None
        except RecursionError:  # [[[[...]]]]: nothing here takes more than a few levels
            raise HTTPError(400, "expected a JSON body: nested too deeply") from None


@dataclass(frozen=True)
class Response:
    body: Any  # turned into JSON
    status: int = 200


@dataclass(frozen=True)
class Stream:
    chunks: AsyncIterator[bytes]
    content_type: str = "application/x-ndjson"


@dataclass(frozen=True)
class Upgrade:
    """The connection leaves HTTP (101 Switching Protocols, to ``protocol``): ``serve`` gets the
    streams, and what the client sent beyond its request, for as long as it keeps the connection."""

    protocol: str
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


Route = Callable[[Request], Awaitable[Response | Stream | Upgrade]]
Authorise = Callable[[socket.socket | None], str | None]  # a refusal, or None to serve the peer

_REASONS = {200: b"OK", 400: b"Bad Request", 403: b"Forbidden", 404: b"Not Found", 405: b"Method Not Allowed",
            409: b"Conflict", 413: b"Content Too Large", 500: b"Internal Server Error"}


class HTTPServer:
    """``report``: where a condition worth one line goes (out of descriptors, too many connections);
    each kind is said once."""

    def __init__(self, routes: dict[tuple[str, str], Route], authorise: Authorise,
                 report: Callable[[str], None] | None = None) -> None:
        self.routes = routes
        self.authorise = authorise
        self.report = report or log.warning
        self._listener: tuple[socket.socket, asyncio.Task[None]] | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._idle: dict[asyncio.Task[Any], float] = {}  # waiting for a request: since when
        self._freed = asyncio.Event()
        self._said: set[str] = set()

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock``, a bound Unix socket (again: it replaces the listener, connections stay)."""
        sock.listen(BACKLOG)
        sock.setblocking(False)
        old, self._listener = self._listener, (sock, asyncio.create_task(self._accept(sock)))
        if old is not None:
            old[1].cancel()
            old[0].close()

    async def close(self) -> None:
        """Stop listening and end every connection (a follower's stream included)."""
        if self._listener is not None:
            sock, accepting = self._listener
            self._listener = None
            accepting.cancel()
            await asyncio.gather(accepting, return_exceptions=True)
            sock.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def _say_once(self, kind: str, text: str) -> None:
        if kind not in self._said:
            self._said.add(kind)
            self.report(text)

    async def _accept(self, sock: socket.socket) -> None:
        """Accept while fewer than MAX_CONNECTIONS are open; beyond, further clients wait in the kernel's
        backlog (no descriptor of ours) until one closes, and a connection idle for a while is closed
        to make room. Out of descriptors, accepting pauses and is tried again, said once."""
        loop = asyncio.get_running_loop()
        while True:
            await self._room()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno not in _OUT_OF:
                    raise
                self._say_once("accept", f"the control socket cannot take a connection: {exc.strerror}; "
                               "devstack goes on, tries again every second, and says this once "
                               "(raise the limit: ulimit -n)")
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            try:
                reader, writer = await asyncio.open_unix_connection(sock=conn)
            except OSError:
                conn.close()
                continue
            task = asyncio.create_task(self._serve(reader, writer))
            self._connections.add(task)

    async def _room(self) -> None:
        """Wait until a connection may be taken; at the cap, close the longest idle one (idle for more
        than a moment: a client that just connected has not been read yet)."""
        loop = asyncio.get_running_loop()
        while len(self._connections) >= MAX_CONNECTIONS:
            self._say_once("full", f"control socket: {MAX_CONNECTIONS} connections at once, the most it "
                           "serves; further clients wait, and the idle ones are closed first")
            idle = [t for t, since in self._idle.items() if loop.time() - since > IDLE_GRACE]
            if idle:
                oldest = min(idle, key=self._idle.__getitem__)
                del self._idle[oldest]
                oldest.cancel()
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), IDLE_GRACE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        loop = asyncio.get_running_loop()
        conn = h11.Connection(our_role=h11.SERVER)
        try:
            refusal = self.authorise(writer.get_extra_info("socket"))
            while True:
                self._idle[task] = loop.time()
                try:  # no request within IDLE_TIMEOUT: the connection is closed (its descriptor is ours)
                    request = await asyncio.wait_for(self._request(conn, reader), IDLE_TIMEOUT)
                except TimeoutError:
                    return
                finally:
                    self._idle.pop(task, None)
                if request is None:
                    return
                answer = Response({"error": refusal}, 403) if refusal else await self._answer(request)
                if isinstance(answer, Stream):
                    await self._stream(conn, reader, writer, answer)
                    return  # a stream ends its connection
                if isinstance(answer, Upgrade):
                    if request.upgrade.lower() != answer.protocol:
                        answer = Response({"error": f"this route needs Upgrade: {answer.protocol}"}, 400)
                    else:
                        headers = [("Upgrade", answer.protocol), ("Connection", "Upgrade")]
                        writer.write(conn.send(h11.InformationalResponse(status_code=101, headers=headers)))
                        await writer.drain()
                        await answer.serve(reader, writer, conn.trailing_data[0])
                        return
                self._respond(conn, writer, answer)
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:  # not HTTP, or not HTTP we take: say so, and hang up
            self._refuse(conn, writer, Response({"error": f"bad request: {exc}"}, exc.error_status_hint))
        except _TooLarge:
            self._refuse(conn, writer, Response({"error": f"the body is over {MAX_BODY} bytes"}, 413))
        except (ConnectionError, h11.LocalProtocolError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            self._idle.pop(task, None)
            self._freed.set()
            writer.close()

    async def _request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise _TooLarge
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                target = urlsplit(head.target.decode("ascii", "replace"))
                upgrade = next((v.decode("ascii", "replace") for k, v in head.headers if k == b"upgrade"), "")
                return Request(head.method.decode("ascii"), target.path,
                               parse_qs(target.query, keep_blank_values=True), bytes(body), upgrade)
            else:  # ConnectionClosed, or PAUSED after a request a client never finished
                return None

    async def _answer(self, request: Request) -> Response | Stream | Upgrade:
        route = self.routes.get((request.method, request.path))
        if route is None:
            allowed = any(path == request.path for _, path in self.routes)
            status = 405 if allowed else 404
            return Response({"error": f"{request.method} {request.path}: no such route"}, status)
        try:
            return await route(request)
        except HTTPError as exc:
            return Response({"error": exc.message}, exc.status)
        except Exception as exc:  # a bug: answer it rather than hang the client, and say where, in a line
            what = describe_error(exc)
            log.error("%s %s failed: %s", request.method, request.path, what)
            return Response({"error": f"internal error: {what}"}, 500)

    @staticmethod
    def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, answer: Response) -> None:
        """One write: a client reading once gets the whole answer, not the head alone."""
        data = json.dumps(answer.body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        head = conn.send(h11.Response(status_code=answer.status, headers=headers,
                                      reason=_REASONS.get(answer.status, b"")))
        writer.write(b"".join((head, conn.send(h11.Data(data=data)), conn.send(h11.EndOfMessage()))))

    @classmethod
    def _refuse(cls, conn: h11.Connection, writer: asyncio.StreamWriter, answer: Response) -> None:
        """The last answer on a connection whose request could not be read, if one can still be sent."""
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                cls._respond(conn, writer, answer)
            except (h11.LocalProtocolError, ConnectionError):
                pass

    @staticmethod
    async def _stream(conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      answer: Stream) -> None:
        """Chunks until the generator ends, or until the client closes its end (noticed at once, not at
        the next write: a follower may wait long for a line)."""
        writer.write(conn.send(h11.Response(status_code=200, reason=b"OK", headers=[
            ("Content-Type", answer.content_type), ("Connection", "close")])))

        async def pump() -> None:
            try:
                async for chunk in answer.chunks:
                    writer.write(conn.send(h11.Data(data=chunk)))
                    await writer.drain()
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
            except ConnectionError:
                pass

        async def gone() -> None:  # the client sends nothing more: the read ends when it closes
            try:
                await reader.read(1)
            except ConnectionError:
                pass

        try:
            await first(pump(), gone())
        finally:
            aclose = getattr(answer.chunks, "aclose", None)
            if aclose is not None:
                await aclose()


class _TooLarge(Exception):
    pass

