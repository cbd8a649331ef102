"""One probe of a service's health check, answered with ok and a short detail for the user.

``http``: GET ``http://127.0.0.1:PORT{target}``, healthy on 200-399 (redirects are not followed).
``tcp`` and ``port``: a TCP connection to ``127.0.0.1:PORT`` is accepted. ``cmd``: ``sh -c target``
exits 0, in the service's directory and environment. ``started``: always healthy.

Every probe is bounded by the check's ``timeout``, and a probe leaves nothing behind: a ``cmd`` runs in
a process group of its own, and the whole group is killed when the command ends, times out, or the
probe is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.model import HealthCheck
from ..tree import register_child, unregister_child

if TYPE_CHECKING:
    import httpx

__all__ = ("HOST", "ProbeResult", "Prober", "format_seconds")

log = logging.getLogger("devstack.health")

HOST = "127.0.0.1"
OUTPUT_TAIL = 4096  # bytes of a cmd check's output kept, for the last line shown on failure
DETAIL_MAX = 120  # characters of that line shown
SETTLE = 1.0  # how long a finished or killed cmd check gets to close its output and be reaped

# Strong references to cleanup tasks that outlive the probe that started them (a cancelled spawn).
_background: set[asyncio.Task[Any]] = set()


@dataclass(frozen=True)
class ProbeResult:
    """``ok`` and a short human detail: "GET /healthz returned 500", "exit code 1"."""

    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'}: {self.detail}"


def format_seconds(seconds: float) -> str:
    """``2`` -> "2 s", ``0.25`` -> "0.25 s"."""
    return f"{seconds:g} s"


class Prober:
    """Probes health checks. One per stack: it owns the HTTP client all ``http`` probes share.

    The client ignores the environment (``trust_env=False``): ``HTTP_PROXY`` and friends are meant for
    the services, and a proxy must never answer for a loopback probe. Each probe uses a fresh connection
    and asks the server to close it: an idle kept-alive connection would occupy a single-threaded dev
    server. Requests go through a lean transport (``transport.LoopbackTransport``): httpx's default one
    costs ten times the CPU.
    """

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self._client: httpx.AsyncClient | None = None

    def _http_client(self) -> httpx.AsyncClient:
        """Made for the first http probe: a stack with no http checks never imports httpx (a tenth of a
        second, at every start, before the first service could be spawned)."""
        if self._client is None:
            import httpx

            from .transport import LoopbackTransport

            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                transport=LoopbackTransport(),
                headers={"Connection": "close", "User-Agent": "devstack-health"},
            )
        return self._client

    def __repr__(self) -> str:
        return f"Prober(host={self.host!r})"

    async def __aenter__(self) -> Prober:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def probe(self, check: HealthCheck, ports: Mapping[str, int] | None = None,
                    cwd: Path | str | None = None, env: Mapping[str, str] | None = None) -> ProbeResult:
        """Probe ``check`` once. ``ports`` is the service's ports by ``PortSpec.key`` ("port" for the main
        one); ``cwd`` and ``env`` are what a ``cmd`` check runs with."""
        if check.kind == "started":
            return ProbeResult(True, "started")
        if check.kind == "cmd":
            return await self._cmd(check, cwd, env)
        port = self._port(check, ports or {})
        if check.kind == "http":
            return await self._http(check, port)
        return await self._tcp(check, port)

    @staticmethod
    def _port(check: HealthCheck, ports: Mapping[str, int]) -> int:
        key = check.port or "port"
        try:
            return ports[key]
        except KeyError:
            known = ", ".join(sorted(ports)) or "none"
            raise ValueError(f"a {check.kind} check needs port {key!r}; the service has: {known}") from None

    # -- tcp ----------------------------------------------------------------------------------

    async def _tcp(self, check: HealthCheck, port: int) -> ProbeResult:
        limit = check.timeout
        where = f"{self.host}:{port}"
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            try:
                async with asyncio.timeout(limit):
                    await loop.sock_connect(sock, (self.host, port))
            except TimeoutError:
                return ProbeResult(False, f"connecting to {where} timed out after {format_seconds(limit)}")
            except OSError as exc:
                return ProbeResult(False, _describe_os_error(exc, where))
        return ProbeResult(True, f"{where} accepts connections")

    # -- http ---------------------------------------------------------------------------------

    async def _http(self, check: HealthCheck, port: int) -> ProbeResult:
        import httpx

        client = self._http_client()
        limit = check.timeout
        path = check.target if check.target.startswith("/") else f"/{check.target}"
        where = f"{self.host}:{port}"
        try:
            # httpx's timeout bounds each phase; this bounds the whole request (a trickling body)
            async with asyncio.timeout(limit):
                response = await client.get(f"http://{where}{path}", timeout=limit)
        except (TimeoutError, httpx.TimeoutException):
            return ProbeResult(False, f"GET {path} timed out after {format_seconds(limit)}")
        except httpx.InvalidURL as exc:
            return ProbeResult(False, f"GET {path}: invalid URL ({exc})")
        except httpx.HTTPError as exc:
            return ProbeResult(False, _describe_http_error(exc, path, where))
        code = response.status_code
        return ProbeResult(200 <= code < 400, f"GET {path} returned {code}")

    # -- cmd ----------------------------------------------------------------------------------

    async def _cmd(self, check: HealthCheck, cwd: Path | str | None,
                   env: Mapping[str, str] | None) -> ProbeResult:
        limit = check.timeout
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            "/bin/sh", "-c", check.target,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=cwd, env=None if env is None else dict(env), start_new_session=True,
        ))
        try:
            # shielded: a process spawned while the probe is being cancelled must still be cleaned up
            proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:
            await _discard(spawn)
            raise
        except OSError as exc:
            where = f" in {cwd}" if cwd is not None and exc.filename == str(cwd) else ""
            return ProbeResult(False, f"cannot run the check{where}: {exc.strerror or exc}")
        exited, output = _watch(proc)
        try:
            async with asyncio.timeout(limit):
                code = await asyncio.shield(exited)
        except TimeoutError:
            await _settle(proc.pid, exited, output)
            return ProbeResult(False, f"timed out after {format_seconds(limit)}")
        except asyncio.CancelledError:
            await _settle(proc.pid, exited, output)
            raise
        # a background job the command left behind goes too
        tail = await _settle(proc.pid, exited, output)
        if code == 0:
            return ProbeResult(True, "exit code 0")
        detail = f"killed by {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        return ProbeResult(False, f"{detail}: {tail}" if tail else detail)


def _watch(proc: asyncio.subprocess.Process) -> tuple[asyncio.Task[int], asyncio.Task[str]]:
    """Register ``proc`` with the orphan reaper's exceptions until asyncio has reaped it, and collect
    the tail of its output."""
    pid = proc.pid
    register_child(pid)
    exited = asyncio.create_task(proc.wait())
    exited.add_done_callback(lambda _: unregister_child(pid))
    assert proc.stdout is not None
    output = asyncio.create_task(_last_line(proc.stdout))
    return exited, output


async def _last_line(stream: asyncio.StreamReader) -> str:
    tail = b""
    try:
        while chunk := await stream.read(OUTPUT_TAIL):
            tail = (tail + chunk)[-OUTPUT_TAIL:]
    except OSError:
        pass
    lines = tail.decode(errors="replace").strip().splitlines()
    line = lines[-1].strip() if lines else ""
    return line if len(line) <= DETAIL_MAX else line[: DETAIL_MAX - 1] + "…"


async def _settle(pgid: int, exited: asyncio.Task[int], output: asyncio.Task[str]) -> str:
    """Kill what is left of the process group, wait (bounded) for the leader to be reaped and its output
    to close; returns the last line of output."""
    _kill_group(pgid)
    done, _ = await asyncio.wait((exited, output), timeout=SETTLE)
    if exited not in done:
        log.warning("health check process %d did not exit after SIGKILL", pgid)
        _keep(exited)
    if output not in done:  # a member that left the group still holds the pipe
        output.cancel()
        return ""
    return output.result()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _discard(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """The probe was cancelled while its check was being spawned: wait for the spawn to finish, then
    kill and reap what it started. Cancelled again meanwhile, it leaves the killing to a callback."""
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        spawn.add_done_callback(_kill_spawned)
        raise
    except OSError:
        return
    exited, output = _watch(proc)
    await _settle(proc.pid, exited, output)


def _kill_spawned(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    if spawn.cancelled() or spawn.exception() is not None:
        return
    proc = spawn.result()
    _kill_group(proc.pid)
    exited, output = _watch(proc)
    _keep(exited)
    _keep(output)


def _keep(task: asyncio.Task[Any]) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _os_error(exc: BaseException) -> OSError | None:
    """The operating system's error behind an exception that wraps it (httpx wraps httpcore wraps it)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _describe_os_error(exc: OSError, where: str) -> str:
    if exc.errno == errno.ECONNREFUSED:
        return f"connection refused on {where}"
    if exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "connection reset"
    return f"cannot connect to {where}: {exc.strerror or exc}"


def _describe_http_error(exc: httpx.HTTPError, path: str, where: str) -> str:
    import httpx

    cause = _os_error(exc)
    if cause is not None:
        return _describe_os_error(cause, where)
    if isinstance(exc, httpx.ConnectError) and "refused" in str(exc).lower():
        return f"connection refused on {where}"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "disconnected" in str(exc):
            return f"GET {path}: connection closed without a response"
        if "closed" in str(exc).lower():
            return f"GET {path}: connection closed before the end of the response"
        return f"GET {path}: not a valid HTTP response ({exc})"
    return f"GET {path} failed: {exc or type(exc).__name__}"
