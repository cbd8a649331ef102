"""Health checks against real servers on real sockets, and real processes for ``cmd`` checks."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from conftest import wait_for

import devstack.health
from devstack import tree
from devstack.config.model import HealthCheck
from devstack.health import HealthMonitor, HealthState, Prober, ProbeResult

T = TypeVar("T")
DEADLINE = 5.0
FAST = {"interval": 0.02, "start_interval": 0.01, "timeout": 1.0}  # durations small enough for tests


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def until(predicate: Callable[[], object], what: str = "condition", within: float = DEADLINE) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.005)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- servers --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer

    def do_GET(self) -> None:
        self.server.hits += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpServer(ThreadingHTTPServer):
    """A stdlib HTTP server on a port of its own. Bound at once, but only accepting connections
    (refused until then) once ``listen()`` is called, so a port can "start answering" at a known time."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.server_bind()
        self.port: int = self.server_address[1]
        self.status = 200
        self.body = b"ok"
        self.hits = 0
        self._thread: threading.Thread | None = None

    def listen(self) -> None:
        self.server_activate()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()


class RawServer:
    """Accepts connections and holds them without answering (``hang``), resets them (``reset``:
    SO_LINGER 0 makes close() send RST), or reads the request and closes (``close``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif self.mode == "close":
                conn.settimeout(DEADLINE)
                conn.recv(65536)  # the request
                conn.close()
            else:
                self.held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def http() -> Iterator[HttpServer]:
    server = HttpServer()
    server.listen()
    yield server
    server.stop()


@pytest.fixture
def silent_http() -> Iterator[HttpServer]:
    """Bound, not yet listening."""
    server = HttpServer()
    yield server
    server.stop()


@pytest.fixture
def hanging() -> Iterator[RawServer]:
    server = RawServer("hang")
    yield server
    server.stop()


@pytest.fixture
def resetting() -> Iterator[RawServer]:
    server = RawServer("reset")
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, so nobody else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def probe(check: HealthCheck, port: int | None = None, **kwargs: Any) -> ProbeResult:
    async def go() -> ProbeResult:
        async with Prober() as prober:
            return await prober.probe(check, {"port": port} if port else {}, **kwargs)

    return run(go())


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[HealthState, str]] = []

    def __call__(self, state: HealthState, message: str) -> None:
        self.events.append((state, message))

    async def wait(self, n: int) -> None:
        await until(lambda: len(self.events) >= n, what=f"{n} transitions, got {self.events}")

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self.events]


class CountingProber(Prober):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def probe(self, *args: Any, **kwargs: Any) -> ProbeResult:
        result = await super().probe(*args, **kwargs)
        self.count += 1
        return result

    async def more(self, n: int) -> None:
        target = self.count + n
        await until(lambda: self.count >= target, what=f"{n} more probes")


# -- probes ---------------------------------------------------------------------------------------


def test_public_surface() -> None:
    for name in devstack.health.__all__:
        assert getattr(devstack.health, name).__module__.startswith("devstack.health")


@pytest.mark.parametrize("status, ok", [(200, True), (204, True), (302, True), (404, False), (500, False)])
def test_http_status(http: HttpServer, status: int, ok: bool) -> None:
    http.status = status
    result = probe(HealthCheck(kind="http", target="/healthz"), http.port)
    assert result == ProbeResult(ok, f"GET /healthz returned {status}")


def test_http_target_without_slash(http: HttpServer) -> None:
    assert probe(HealthCheck(kind="http", target="health"), http.port).detail == "GET /health returned 200"


def test_http_refused(closed_port: int) -> None:
    result = probe(HealthCheck(kind="http", target="/healthz"), closed_port)
    assert result == ProbeResult(False, f"connection refused on 127.0.0.1:{closed_port}")


def test_http_timeout(hanging: RawServer) -> None:
    started = time.monotonic()
    result = probe(HealthCheck(kind="http", target="/healthz", timeout=0.2), hanging.port)
    assert result == ProbeResult(False, "GET /healthz timed out after 0.2 s")
    assert 0.2 <= time.monotonic() - started < 1.5


def test_http_reset(resetting: RawServer) -> None:
    result = probe(HealthCheck(kind="http", target="/"), resetting.port)
    assert result == ProbeResult(False, "connection reset")


def test_http_closed_without_response() -> None:
    server = RawServer("close")
    try:
        result = probe(HealthCheck(kind="http", target="/"), server.port)
    finally:
        server.stop()
    assert result == ProbeResult(False, "GET /: connection closed without a response")


def test_http_large_body_is_read(http: HttpServer) -> None:
    http.body = b"x" * 300_000
    assert probe(HealthCheck(kind="http", target="/"), http.port).ok


@pytest.mark.parametrize("var", ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"])
def test_http_ignores_proxy_variables(http: HttpServer, monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv(var, "http://127.0.0.1:1")  # nothing listens there: a proxy would fail the probe
    assert probe(HealthCheck(kind="http", target="/"), http.port) == ProbeResult(True, "GET / returned 200")
    assert http.hits == 1


@pytest.mark.parametrize("kind", ["tcp", "port"])
def test_tcp(http: HttpServer, closed_port: int, kind: Any) -> None:
    assert probe(HealthCheck(kind=kind), http.port).ok
    assert probe(HealthCheck(kind=kind), closed_port) == ProbeResult(
        False, f"connection refused on 127.0.0.1:{closed_port}")


def test_named_port(http: HttpServer) -> None:
    async def go() -> ProbeResult:
        async with Prober() as prober:
            return await prober.probe(HealthCheck(kind="tcp", port="admin"), {"port": 1, "admin": http.port})

    assert run(go()).ok


def test_missing_port_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs port 'admin'; the service has: port"):
        probe(HealthCheck(kind="tcp", port="admin"), 1234)


def test_started_is_always_healthy() -> None:
    assert probe(HealthCheck()).ok


def service_env(**extra: str) -> dict[str, str]:
    # DEVSTACK_SERVICE lets the leak check in conftest see anything a check leaves running
    return {**os.environ, "DEVSTACK_SERVICE": "health-test", **extra}


def test_cmd_success_runs_in_cwd_and_env(tmp_path: Path) -> None:
    check = HealthCheck(kind="cmd", target=f'test "$(pwd)" = "{tmp_path}" && test "$FLAVOUR" = mint')
    assert probe(check, cwd=tmp_path, env=service_env(FLAVOUR="mint")) == ProbeResult(True, "exit code 0")
    assert not probe(check, cwd=tmp_path, env=service_env(FLAVOUR="lime")).ok


def test_cmd_failure_shows_exit_code_and_last_line(tmp_path: Path) -> None:
    check = HealthCheck(kind="cmd", target="echo starting; echo 'no response' >&2; exit 3")
    assert probe(check, cwd=tmp_path, env=service_env()) == ProbeResult(False, "exit code 3: no response")
    assert probe(HealthCheck(kind="cmd", target="exit 1"), cwd=tmp_path, env=service_env()) == ProbeResult(
        False, "exit code 1")


def test_cmd_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    check = HealthCheck(kind="cmd", target=f"sleep 30 & echo $! > {pidfile}; wait", timeout=0.5)
    started = time.monotonic()
    assert probe(check, cwd=tmp_path, env=service_env()) == ProbeResult(False, "timed out after 0.5 s")
    assert time.monotonic() - started < 2.5
    grandchild = int(pidfile.read_text())
    wait_for(lambda: gone(grandchild), timeout=DEADLINE, message=f"sleep {grandchild} to be killed")


def test_cmd_background_job_is_killed_after_success(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    check = HealthCheck(kind="cmd", target=f"sleep 30 > /dev/null 2>&1 & echo $! > {pidfile}")
    assert probe(check, cwd=tmp_path, env=service_env()).ok
    grandchild = int(pidfile.read_text())
    wait_for(lambda: gone(grandchild), timeout=DEADLINE, message=f"sleep {grandchild} to be killed")


def test_cmd_in_a_missing_directory(tmp_path: Path) -> None:
    result = probe(HealthCheck(kind="cmd", target="true"), cwd=tmp_path / "nope", env=service_env())
    assert not result.ok
    assert result.detail.startswith("cannot run the check")


# -- monitor --------------------------------------------------------------------------------------


def test_healthy_once_the_port_answers(silent_http: HttpServer) -> None:
    check = HealthCheck(kind="http", target="/healthz", retries=1, start_period=60, **FAST)
    rec = Recorder()

    async def go() -> None:
        async with CountingProber() as prober:
            monitor = HealthMonitor("api", check, prober, {"port": silent_http.port}, on_change=rec)
            task = asyncio.create_task(monitor.run())
            await prober.more(5)  # more failures than retries: inside start_period they do not count
            assert monitor.state is HealthState.STARTING
            assert monitor.last == ProbeResult(False, f"connection refused on 127.0.0.1:{silent_http.port}")
            silent_http.listen()
            assert await asyncio.wait_for(monitor.wait_ready(), DEADLINE)
            assert monitor.state is HealthState.HEALTHY
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert len(rec.events) == 1
    assert rec.events[0][0] is HealthState.HEALTHY
    assert re.fullmatch(r"api healthy in \d+\.\d\d s", rec.events[0][1])


def test_unhealthy_after_retries_and_healthy_again_each_reported_once(http: HttpServer) -> None:
    check = HealthCheck(kind="http", target="/healthz", retries=3, **FAST)
    rec = Recorder()

    async def go() -> None:
        async with CountingProber() as prober:
            monitor = HealthMonitor("api", check, prober, {"port": http.port}, on_change=rec)
            task = asyncio.create_task(monitor.run())
            await rec.wait(1)
            http.status = 500
            await rec.wait(2)
            assert monitor.state is HealthState.UNHEALTHY
            await prober.more(5)  # still failing: nothing more to report
            http.status = 200
            await rec.wait(3)
            await prober.more(5)  # still healthy: nothing more to report
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert [s for s, _ in rec.events] == [HealthState.HEALTHY, HealthState.UNHEALTHY, HealthState.HEALTHY]
    assert rec.messages[1:] == ["api unhealthy: GET /healthz returned 500 (3 times)", "api healthy again"]


def test_fewer_failures_than_retries_change_nothing(http: HttpServer) -> None:
    check = HealthCheck(kind="http", target="/", retries=1000, **FAST)
    rec = Recorder()

    async def go() -> None:
        async with CountingProber() as prober:
            monitor = HealthMonitor("api", check, prober, {"port": http.port}, on_change=rec)
            task = asyncio.create_task(monitor.run())
            await rec.wait(1)
            http.status = 503
            await prober.more(5)
            assert monitor.state is HealthState.HEALTHY
            assert monitor.last == ProbeResult(False, "GET / returned 503")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert len(rec.events) == 1


def test_never_healthy_after_start_period_and_retries(closed_port: int) -> None:
    check = HealthCheck(kind="tcp", retries=3, start_period=0.3, **FAST)
    rec = Recorder()

    async def go() -> float:
        async with CountingProber() as prober:
            started = time.monotonic()
            monitor = HealthMonitor("db", check, prober, {"port": closed_port}, on_change=rec,
                                    started_at=started)
            # run() returns by itself: failed is final
            await asyncio.wait_for(monitor.run(), DEADLINE)
            assert not await monitor.wait_ready()
            assert monitor.state is HealthState.FAILED
            return time.monotonic() - started

    assert run(go()) >= 0.3
    assert rec.events == [(HealthState.FAILED,
                           f"db never became healthy: connection refused on 127.0.0.1:{closed_port}")]


def test_started_check_is_healthy_at_once() -> None:
    rec = Recorder()

    async def go() -> None:
        async with Prober() as prober:
            monitor = HealthMonitor("worker", HealthCheck(), prober, on_change=rec)
            await asyncio.wait_for(monitor.run(), DEADLINE)
            assert await monitor.wait_ready()

    run(go())
    assert [s for s, _ in rec.events] == [HealthState.HEALTHY]


def test_wait_ready_is_false_when_monitoring_stops_first(closed_port: int) -> None:
    async def go() -> bool:
        async with CountingProber() as prober:
            monitor = HealthMonitor("api", HealthCheck(kind="tcp", **FAST), prober, {"port": closed_port})
            task = asyncio.create_task(monitor.run())
            await prober.more(2)
            task.cancel()
            return await asyncio.wait_for(monitor.wait_ready(), DEADLINE)

    assert run(go()) is False


def test_cancelling_the_monitor_kills_a_running_cmd_check(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    check = HealthCheck(kind="cmd", target=f"sleep 30 & echo $! > {pidfile}; wait", timeout=30)

    async def go() -> None:
        async with Prober() as prober:
            monitor = HealthMonitor("db", check, prober, cwd=tmp_path, env=service_env())
            task = asyncio.create_task(monitor.run())
            await until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the check to start")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    grandchild = int(pidfile.read_text())
    wait_for(lambda: gone(grandchild), timeout=DEADLINE, message=f"sleep {grandchild} to be killed")
    wait_for(lambda: not tree._known_children, timeout=DEADLINE, message="the check to be unregistered")


def test_cmd_monitor_registers_its_children(tmp_path: Path) -> None:
    seen: set[int] = set()
    check = HealthCheck(kind="cmd", target="sleep 0.2", **{**FAST, "timeout": 5.0})

    async def go() -> None:
        async with Prober() as prober:
            monitor = HealthMonitor("db", check, prober, cwd=tmp_path, env=service_env())
            task = asyncio.create_task(monitor.run())
            await until(lambda: seen.update(tree._known_children) or seen, what="a registered check")
            await asyncio.wait_for(monitor.wait_ready(), DEADLINE)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(go())
    assert seen
    wait_for(lambda: not tree._known_children, timeout=DEADLINE, message="the check to be unregistered")


def test_cancelling_a_cmd_probe_at_any_point_leaves_nothing(tmp_path: Path) -> None:
    check = HealthCheck(kind="cmd", target="sleep 30 & wait", timeout=30)

    async def go() -> None:
        async with Prober() as prober:
            for steps in range(12):  # cancel after 0, 1, 2, ... turns of the event loop
                task = asyncio.create_task(prober.probe(check, cwd=tmp_path, env=service_env()))
                for _ in range(steps):
                    await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

    run(go())  # the leak check in conftest finds any sh or sleep left
    wait_for(lambda: not tree._known_children, timeout=DEADLINE, message="the checks to be unregistered")
