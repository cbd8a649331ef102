"""The control socket's HTTP layer on its own (``devstack.control.http``): a real Unix socket, a real
httpx client and raw bytes for what a well-behaved client never sends."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from devstack.control.http import MAX_BODY, HTTPError, HTTPServer, Request, Response, Stream

Check = Callable[[Path, "Recorder"], Awaitable[None]]


class Recorder:
    """Routes that remember what they were asked, and a stream that says when it was closed."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.stream_closed = asyncio.Event()
        self.stream_started = asyncio.Event()

    async def echo(self, request: Request) -> Response:
        self.seen.append(request)
        return Response({"query": request.query, "body": request.json()})

    async def fail(self, request: Request) -> Response:
        raise HTTPError(409, "not now")

    async def crash(self, request: Request) -> Response:
        raise RuntimeError("a bug")

    async def forever(self, request: Request) -> Stream:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                yield b'{"n": 1}\n'
                self.stream_started.set()
                await asyncio.Event().wait()  # a follower waiting for a line that never comes
                yield b"never\n"
            finally:
                self.stream_closed.set()

        return Stream(chunks())


def serve(check: Check, tmp_path: Path, refuse: str | None = None) -> None:
    async def main() -> None:
        rec = Recorder()
        routes = {("POST", "/echo"): rec.echo, ("GET", "/echo"): rec.echo, ("GET", "/fail"): rec.fail,
                  ("GET", "/crash"): rec.crash, ("GET", "/forever"): rec.forever}
        server = HTTPServer(routes, authorise=lambda sock: refuse)
        path = tmp_path / "c.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        await server.start(sock)
        try:
            await asyncio.wait_for(check(path, rec), 20)
        finally:
            await asyncio.wait_for(server.close(), 5)

    asyncio.run(main())


def client(path: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(path)), base_url="http://devstack")


def test_json_routes_query_body_and_keep_alive(tmp_path: Path) -> None:
    async def check(path: Path, rec: Recorder) -> None:
        async with client(path) as c:
            one = await c.post("/echo", params={"name": ["a", "b"], "n": "3"}, json={"names": ["api"]})
            two = await c.get("/echo")  # the same connection, kept alive
        assert one.status_code == 200 and one.headers["content-type"] == "application/json"
        assert one.json() == {"query": {"name": ["a", "b"], "n": ["3"]}, "body": {"names": ["api"]}}
        assert two.json() == {"query": {}, "body": {}}
        assert rec.seen[0].arg("n") == "3" and rec.seen[0].args("name") == ["a", "b"]

    serve(check, tmp_path)


def test_errors_are_json_with_their_status(tmp_path: Path) -> None:
    async def check(path: Path, rec: Recorder) -> None:
        async with client(path) as c:
            answers = {
                "unknown path": await c.get("/nope"),
                "wrong method": await c.delete("/echo"),
                "raised": await c.get("/fail"),
                "bug": await c.get("/crash"),
                "not json": await c.post("/echo", content=b"{nope"),
                "too large": await c.post("/echo", content=b" " * (MAX_BODY + 1)),
            }
        got = {what: (r.status_code, r.json()["error"]) for what, r in answers.items()}
        assert got["unknown path"] == (404, "GET /nope: no such route")
        assert got["wrong method"] == (405, "DELETE /echo: no such route")
        assert got["raised"] == (409, "not now")
        assert got["bug"][0] == 500 and "a bug" in got["bug"][1]
        assert got["not json"] == (400, "expected a JSON body")
        assert got["too large"][0] == 413

    serve(check, tmp_path)


def test_a_refused_peer_gets_403_and_nothing_runs(tmp_path: Path) -> None:
    async def check(path: Path, rec: Recorder) -> None:
        async with client(path) as c:
            r = await c.get("/echo")
        assert r.status_code == 403 and r.json() == {"error": "this stack belongs to another user"}
        assert rec.seen == []

    serve(check, tmp_path, refuse="this stack belongs to another user")


def test_a_stream_ends_when_its_reader_goes_away(tmp_path: Path) -> None:
    async def check(path: Path, rec: Recorder) -> None:
        async with client(path) as c, c.stream("GET", "/forever") as r:
            assert r.headers["content-type"] == "application/x-ndjson"
            lines = r.aiter_lines()
            assert json.loads(await anext(lines)) == {"n": 1}
            await rec.stream_started.wait()
            assert not rec.stream_closed.is_set()
        # the client closed its connection while the stream waited for a line: noticed at once
        await asyncio.wait_for(rec.stream_closed.wait(), 5)

    serve(check, tmp_path)


def test_garbage_and_half_requests_do_not_hurt_the_server(tmp_path: Path) -> None:
    async def raw(path: Path, data: bytes) -> bytes:
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(data)
        writer.write_eof()
        got = await reader.read()
        writer.close()
        return got

    async def check(path: Path, rec: Recorder) -> None:
        refused = await raw(path, b"\x00\xff not http at all\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 400 ") and b"illegal request line" in refused
        cut_short = await raw(path, b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert cut_short.startswith(b"HTTP/1.1 400 ") and rec.seen == []
        assert (await raw(path, b"")) == b""
        async with client(path) as c:  # and it still serves
            assert (await c.get("/echo")).status_code == 200

    serve(check, tmp_path)
