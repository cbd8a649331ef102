"""One running service process: spawn it in a session of its own, stream its output, stop its whole
tree.

``stop`` follows docker compose and trio: the service's stop signal to its process group (and to any
of its processes that left the group), wait up to its stop timeout, then SIGKILL, then confirm that
nothing of it is left. Which processes are its is the business of its ``tracking.Slot`` (its cgroup, or
its share of devstack's process tree).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from . import failpoints
from .config import Service
from .limits import restore_for_child
from .output import LineSink
from .ports.activation import LISTEN_FD, place_listener, trampoline
from .terminal import Terminal, controlling_tty
from .tracking import Slot
from .tree import INSTANCE_VAR, pdeathsig_preexec, reap_orphans, register_child, unregister_child

__all__ = ("TRANSIENT", "ServiceProcess", "SpawnError", "cannot_start", "describe_exit")

log = logging.getLogger("devstack.process")

POLL = 0.02  # how often stragglers of a stopped process group are looked for
KILL_CONFIRM = 2.0  # how long SIGKILLed processes get to disappear
DRAIN = 0.2  # how long the last output of an exited process is waited for


# the machine is out of something for a while (descriptors, processes, memory, disk): another try,
# after the crash backoff, may well succeed, so these never give a service up for good
TRANSIENT = frozenset({errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM, errno.ENOSPC})


class SpawnError(Exception):
    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # the machine ran out of something: try again after the backoff


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, sink: LineSink) -> None:
        loop = asyncio.get_running_loop()
        self.sink = sink
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.sink.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.sink.close()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class ServiceProcess:
    def __init__(self, service: Service, run_token: str,
                 transport: asyncio.SubprocessTransport, protocol: _Protocol, slot: Slot,
                 instance: str | None = None, terminal: Terminal | None = None) -> None:
        self.service = service
        self.terminal = terminal  # interactive = true: the pty it runs on
        self.run_token = run_token
        self.instance = instance
        self.slot = slot
        self._transport = transport
        self._protocol = protocol
        self.pid: int = transport.get_pid()
        self.started = time.monotonic()
        slot.bind(self.pid)
        protocol.exited.add_done_callback(lambda _: slot.ended())

    @classmethod
    async def spawn(cls, service: Service, argv: list[str], env: dict[str, str], sink: LineSink,
                    run_token: str, slot: Slot, *, listener: socket.socket | None = None,
                    instance: str | None = None, terminal: Terminal | None = None) -> ServiceProcess:
        """Start ``argv``, its first process placed in ``slot`` (its cgroup) before the command runs.
        ``listener``: the listening socket to hand over at fd 3 (``socket = true``),
        through a shell that sets ``LISTEN_PID``. ``instance``: marks its processes apart from another
        instance's of the same service (``DEVSTACK_INSTANCE``). ``terminal``: a pty to run on (stdin,
        stdout and stderr, and its controlling terminal) instead of /dev/null and a pipe."""
        loop = asyncio.get_running_loop()
        protocol = _Protocol(sink)
        preexec = _chain(slot.preexec(), pdeathsig_preexec(), restore_for_child)
        extra: dict[str, Any] = {}
        stdin, stdout, stderr = subprocess.DEVNULL, subprocess.PIPE, subprocess.STDOUT
        if terminal is not None:
            stdin = stdout = stderr = terminal.slave
            preexec = _chain(preexec, controlling_tty)
        if instance is not None:
            env = {**env, INSTANCE_VAR: instance}
        if listener is not None:
            if not isinstance(service.cmd, str) and "/" not in argv[0] \
                    and shutil.which(argv[0], path=env.get("PATH")) is None:
                raise SpawnError(f"program not found: {argv[0]!r} (is it installed and on PATH?)")
            argv = trampoline(argv, argv[2] if isinstance(service.cmd, str) else None)
            preexec = _chain(preexec, place_listener(listener))
            extra["pass_fds"] = (LISTEN_FD,)
        try:
            failpoints.check("spawn", service.name)
            transport, _ = await loop.subprocess_exec(
                lambda: protocol, *argv, stdin=stdin, stdout=stdout, stderr=stderr,
                cwd=service.cwd, env=env, start_new_session=True,
                preexec_fn=preexec, **extra,
            )
        except OSError as exc:
            raise SpawnError(cannot_start(exc, argv[0]), exc.errno in TRANSIENT) from None
        register_child(transport.get_pid())
        if terminal is not None:
            terminal.started()
        return cls(service, run_token, transport, protocol, slot, instance, terminal)

    @property
    def pgid(self) -> int:
        return self.pid  # a session leader leads its own process group

    @property
    def returncode(self) -> int | None:
        return self._transport.get_returncode()

    @property
    def exited(self) -> bool:
        return self._protocol.exited.done()

    async def wait(self) -> int:
        """Wait for the process to exit, and for its last output (briefly: a daemon it left behind may
        hold the pipe open)."""
        await asyncio.shield(self._protocol.exited)
        await self._drain()
        code = self._transport.get_returncode()
        assert code is not None
        return code

    def members(self, fresh: bool = False) -> list[int]:
        """The pids of its live processes: the first one and every process it started, daemons that
        left its process group included (``fresh``: looked up now, not a few ms ago)."""
        return self.slot.pids(fresh)

    @property
    def running(self) -> bool:
        """Does any process of it live (its first one, or what that left running: a daemon)?"""
        return not self.exited or self.slot.alive()

    def signal(self, sig: int) -> None:
        self.slot.signal(sig)

    async def stop(self, force: asyncio.Event | None = None) -> bool:
        """Stop the whole tree gracefully; returns False if it had to be SIGKILLed. ``force`` set
        (a second Ctrl-C) kills at once."""
        svc = self.service
        graceful = True
        self.signal(svc.stop_signal)
        if not await self._gone_within(svc.stop_timeout, force):
            graceful = False
            self.kill()
            if not await self._gone_within(KILL_CONFIRM, None):
                log.warning("%s: processes survived SIGKILL: %s", svc.name, self.members())
        await self._close()
        return graceful

    def kill(self) -> None:
        self.slot.kill()

    async def _gone_within(self, seconds: float, force: asyncio.Event | None) -> bool:
        """Wait until the leader has exited and no member is left, or the time is up (or ``force``)."""
        deadline = time.monotonic() + seconds
        waiters: list[asyncio.Future[Any]] = [asyncio.shield(self._protocol.exited)]
        force_task = asyncio.ensure_future(force.wait()) if force is not None else None
        if force_task is not None:
            waiters.append(force_task)
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            while True:
                if force_task is not None and force_task.done():
                    return False
                if self.exited and not self.slot.alive():
                    return True
                if time.monotonic() >= deadline:
                    return False
                reap_orphans()
                await asyncio.sleep(POLL)
        finally:
            if force_task is not None:
                force_task.cancel()

    async def _drain(self) -> None:
        """Wait (briefly: a daemon it left behind may hold the pipe open) for the pipe's end, so that
        what the process printed last is read before the transport is closed."""
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), DRAIN)
            if self.terminal is not None:
                await asyncio.wait_for(self.terminal.wait_closed(), DRAIN)
        except TimeoutError:
            pass
        if self.terminal is not None:  # a daemon it left may hold the pty: its output is not the service's
            self.terminal.close()

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.exited), KILL_CONFIRM)
        except TimeoutError:
            pass
        await self._drain()  # its goodbye ("shutting down...") may still be in the pipe
        self._transport.close()
        unregister_child(self.pid)
        if not self.slot.alive():
            self.slot.close()


def _chain(*parts: Callable[[], None] | None) -> Callable[[], None]:
    """One ``preexec_fn`` running each of ``parts`` (the PDEATHSIG one first) in order."""
    steps = [p for p in parts if p is not None]

    def preexec() -> None:
        for step in steps:
            step()

    return preexec


def cannot_start(exc: OSError, program: str) -> str:
    """Why ``program`` could not be started, in plain words."""
    if isinstance(exc, FileNotFoundError):
        return f"program not found: {program!r} (is it installed and on PATH?)"
    if isinstance(exc, PermissionError):
        return f"permission denied running {program!r} (is it executable?)"
    return f"cannot start {program!r}: {exc.strerror}"


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
