"""One service's life inside a running stack: wait for its dependencies, start, become ready, restart
on request, report how it ended, stop in order.

A ``Runner`` is owned by the ``Supervisor`` and runs as one asyncio task. Others observe it through
``phase`` and wait on it through ``reached(condition)``, which is how ``depends_on`` gates a start.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import failpoints
from .aio import first
from .config import Service
from .contract_watch import PortContract, by_port
from .environment import HOST, render_argv, service_env
from .errors import describe_error
from .ports import Listen
from .ports.activation import open_listener
from .process import ServiceProcess, SpawnError, describe_exit
from .terminal import Terminal

if TYPE_CHECKING:
    from .supervisor import Supervisor

__all__ = ("Phase", "Runner")

log = logging.getLogger("devstack.runner")

FOLLOW_POLL = 0.25  # how often a followed daemon is looked for (one read of its cgroup.events)


class Phase(enum.Enum):
    PENDING = "pending"
    WAITING = "waiting"  # for its dependencies
    STARTING = "starting"  # spawned, not ready yet
    RUNNING = "running"  # ready (no health check beyond having started)
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"  # stopped by devstack
    EXITED = "exited"  # ended on its own
    FAILED = "failed"  # could not be started, or never became healthy
    NOT_STARTED = "not started"  # a dependency failed


class Monitor(Protocol):
    """What the runner needs of a health monitor."""

    async def run(self) -> None: ...


class Runner:
    def __init__(self, service: Service, sup: Supervisor) -> None:
        self.service = service
        self.sup = sup
        self.phase = Phase.PENDING
        self.process: ServiceProcess | None = None
        self.exit_code: int | None = None
        self.restarts = 0  # every restart: crashes, a failed health check, and those asked for...
        self.reloads = 0  # ...of which these were asked for (a file change, devstack restart)
        self._deliberate = True  # the restart asked for now is one of those
        self.started_at = 0.0  # monotonic time of the last spawn
        self.why = ""  # why it failed or was not started
        self.env: dict[str, str] = {}
        self._started = asyncio.Event()  # spawned at least once
        self._ready = asyncio.Event()  # ready at least once
        self._decided = asyncio.Event()  # will not (by itself) become ready / complete any more
        self._exited = asyncio.Event()
        self._restart = asyncio.Event()
        self._restarted: list[asyncio.Future[None]] = []
        self._monitor_task: asyncio.Task[None] | None = None
        self.contract = PortContract(self)
        self._stopped = asyncio.Event()
        self._park = asyncio.Event()  # `devstack stop NAME`
        self._start = asyncio.Event()  # `devstack start NAME` of a parked service
        self._parked = asyncio.Event()
        self.crash_restarts = 0
        self._backoff = sup.config.settings.restart_backoff
        self._started_this_time = False
        self.restart_reason: str | None = None
        self._port_taken: str | None = None  # "port N is in use by pid X (...)" when its instance ended
        self._listener: socket.socket | None = None  # socket = true: opened once, kept across restarts
        self._previous: ServiceProcess | None = None  # reload = "overlap": the instance being replaced
        self._instance_ready = asyncio.Event()  # the current instance has been ready
        self._instances = 0
        self._spawn_transient = False  # the last failed start failed for want of a resource
        self._following = False  # its first process exited 0 and left a daemon running: followed

    # -- what dependents wait on ----------------------------------------------------------------

    async def reached(self, condition: str) -> bool:
        """Wait until ``condition`` (started / healthy / completed_successfully) holds or cannot hold
        any more; True if it holds."""
        if condition == "started":
            await first(self._started.wait(), self._decided.wait())
            return self._started.is_set()
        if condition == "healthy":
            await first(self._ready.wait(), self._decided.wait())
            return self._ready.is_set()
        await self._decided.wait()  # completed_successfully
        return self.phase is Phase.EXITED and self.exit_code == 0

    @property
    def ready_once(self) -> bool:
        """Has it been ready at least once?"""
        return self._ready.is_set()

    def holds(self, condition: str) -> bool:
        """Does ``condition`` hold now (without waiting)?"""
        if condition == "started":
            return self._started.is_set()
        if condition == "healthy":
            return self._ready.is_set()
        return self.phase is Phase.EXITED and self.exit_code == 0

    def mark_ready(self, message: str | None = None) -> None:
        """Called by the health monitor (or at once, for a service with nothing to check)."""
        if self._ready.is_set() and self.phase is Phase.UNHEALTHY:  # "healthy again"
            self.phase = Phase.HEALTHY
            if message:
                self.sup.printer.event(message, self.service.name)
            return
        self.phase = Phase.RUNNING if self.service.health.kind == "started" else Phase.HEALTHY
        self._ready.set()
        self._instance_ready.set()
        self._resolve_restarted()
        if message:
            self.sup.printer.event(message, self.service.name)
        self.contract.on_ready()

    @property
    def instance_ready(self) -> bool:
        """Has the current instance been ready?"""
        return self._instance_ready.is_set()

    def mark_running_unlistened(self) -> None:
        """Checked by its port alone (no health table), it listens on no port at all: a worker given a
        port it does not need (the contract's finding says so, and names port = false). It counts as
        running, ready for its dependents, as it would in honcho or docker compose, instead of failing
        once start_period is over; the port check goes on, and makes it healthy if it listens later."""
        if self._instance_ready.is_set() or self.phase is not Phase.STARTING:
            return
        self.phase = Phase.RUNNING
        self._ready.set()
        self._instance_ready.set()
        self._resolve_restarted()

    def _resolve_restarted(self) -> None:
        for fut in self._restarted:
            if not fut.done():
                fut.set_result(None)
        self._restarted.clear()

    def mark_unhealthy(self, message: str) -> None:
        self.phase = Phase.UNHEALTHY
        self.sup.printer.event(message, self.service.name, error=True)
        if self.service.restart != "no":  # on-failure and always restart what stopped answering
            self.request_restart(f"{message}; restart = \"{self.service.restart}\"", deliberate=False)

    def mark_never_ready(self, message: str) -> None:
        if self.phase is Phase.RUNNING and self.service.health.kind == "port":
            return  # running without listening (mark_running_unlistened): not a failure
        self.phase = Phase.FAILED
        self.why = message
        self._decided.set()
        self._resolve_restarted()
        self.sup.printer.event(message, self.service.name, error=True)
        if self.contract.expected():  # where it listens instead is usually why (told once)
            self.contract.check(listening_expected=True)

    def snapshot(self, listens: list[Listen] | None = None) -> dict[str, Any]:
        """Its state for the control API; ``listens``: its sockets, when the caller looked them up for
        every service at once."""
        proc = self.process
        alive = proc is not None and proc.running
        return {
            "name": self.service.name,
            "state": self.phase.value,
            "pid": self._main_pid() if alive else None,
            "ports": dict(self.sup.ports.get(self.service.name, {})),
            "uptime": round(time.monotonic() - self.started_at, 3) if alive else None,
            "restarts": self.restarts,
            "reloads": self.reloads,
            "exit_code": self.exit_code,
            "why": self.why or None,
            "scheme": self.service.scheme,
            "listening": by_port(self.contract.listens() if listens is None else listens) if alive else {},
            "findings": [{"kind": f.kind, "port": f.port, "message": f.message}
                         for f in self.contract.findings],
        }

    def _main_pid(self) -> int | None:
        """Its first process while that runs; the daemon it handed over to once that has exited."""
        proc = self.process
        if proc is None:
            return None
        if not proc.exited:
            return proc.pid
        pids = proc.members()
        return min(pids) if pids else None

    # -- life ---------------------------------------------------------------------------------

    def owners(self, proc: ServiceProcess | None) -> Callable[[], tuple[set[int], set[int]]]:
        """For the health probes of instance ``proc`` (``socket = true``): its processes' pids, and
        those of the instance it replaces, if that one still runs."""

        def pids() -> tuple[set[int], set[int]]:
            ours = set(proc.members()) if proc is not None else set()
            previous = self._previous
            others = set(previous.members()) if previous is not None and previous is not proc else set()
            return ours, others - ours

        return pids

    async def run(self) -> None:
        try:
            if await self._dependencies_hold():
                await self._supervise()
        finally:
            # its task has ended (stopped, parked at shutdown, or not started): nothing will change any
            # more, and a dependent still waiting on it must not wait forever
            self._decided.set()
            if self._listener is not None:  # from now on a connection is refused, not kept waiting
                self._listener.close()
                self._listener = None

    async def _supervise(self) -> None:
        """``_live``, kept going whatever goes wrong inside it: an unexpected error (a full disk, a
        descriptor limit, a bug) is reported with where it happened, the instance is stopped, and the
        service is restarted after the crash backoff (or marked failed, with the reason, once
        ``max_restarts`` is used up). No error ends a service's supervision silently."""
        while True:
            try:
                await self._live()
                return
            except Exception as exc:  # (CancelledError is not an Exception: a cancel still ends it)
                if not await self._recover(exc):
                    return

    async def _recover(self, exc: Exception) -> bool:
        """After an unexpected error: stop what runs, wait out the backoff; True to start again."""
        svc, sup = self.service, self.sup
        what = f"{svc.name}: unexpected error while devstack supervised it: {describe_error(exc)}"
        try:
            self._stop_monitor()
            proc = self.process
            if proc is not None and not (proc.exited and not proc.members()):
                await self._kill_anyway(proc)
            self._exited.set()
            if sup.stopping:
                self.phase = Phase.STOPPED
                sup.printer.event(what, svc.name, error=True)
                return False
            if svc.max_restarts is not None and self.crash_restarts >= svc.max_restarts:
                self.phase, self.why = Phase.FAILED, what
                sup.printer.event(f"{what}; given up after {self.crash_restarts} restarts "
                                  f"(max_restarts = {svc.max_restarts})", svc.name, error=True)
                self._decided.set()
                self._resolve_restarted()
                return False
            delay = self._next_delay()
            self.crash_restarts += 1
            self.phase = Phase.RESTARTING
            sup.printer.event(f"{what}; its processes are stopped, restarting it in {delay:g} s "
                              f"(restart {self.crash_restarts})", svc.name, error=True)
            if await first(asyncio.sleep(delay), sup.stop_requested()) == 1:
                return False
            self._restart.clear()
            self.restarts += 1
            return True
        except Exception as again:  # reporting failed too (the log cannot be written): say it on stderr
            log.error("%s; then: %s", what, describe_error(again))
            self.phase, self.why = Phase.FAILED, what
            self._decided.set()
            return False

    async def _kill_anyway(self, proc: ServiceProcess) -> None:
        """Stop ``proc`` at once, whatever state its runner was left in by an error."""
        now = asyncio.Event()
        now.set()
        try:
            await proc.stop(now)
        except Exception:  # the usual way failed as well: the group, directly
            with contextlib.suppress(OSError):
                os.killpg(proc.pgid, signal.SIGKILL)

    async def _live(self) -> None:
        svc, printer = self.service, self.sup.printer
        while not self.sup.stopping:
            outcome = await self._run_once()
            if outcome == "restart":
                continue
            if outcome == "stop":
                return
            if outcome == "parked":  # stopped by `devstack stop`: wait for `devstack start`
                if await first(self._start.wait(), self.sup.stop_requested()) != 0:
                    return
                self._start.clear()
                self._parked.clear()
                continue
            if outcome == "ended" and await self._crash_restart():
                continue
            self._decided.set()
            self._resolve_restarted()
            if not self._restartable():
                return
            # a watched service that ended waits for the next change (nodemon's "waiting for changes")
            printer.event(f"{svc.name} will start again when its files change", svc.name)
            if await first(self._restart.wait(), self.sup.stop_requested()) != 0:
                return
            self._restart.clear()
            self._decided.clear()
            self.restarts += 1  # so its next ready line says "restarted", and status counts it
            self.reloads += 1
            if self.restart_reason:
                printer.event(f"{svc.name} starting again: {self.restart_reason}", svc.name)
                self.restart_reason = None

    async def _dependencies_hold(self) -> bool:
        deps = self.service.depends_on
        if not deps:
            return True
        self.phase = Phase.WAITING
        names = ", ".join(f"{d.name} ({d.condition.replace('_', ' ')})" for d in deps)
        self.sup.printer.event(f"{self.service.name} waiting for {names}", self.service.name)
        for dep in deps:
            other = self.sup.runners[dep.name]
            if await other.reached(dep.condition):
                continue
            if self.sup.stopping:
                return False
            self.phase = Phase.NOT_STARTED
            self.why = f"{self.service.name} not started: {other.failure_phrase(dep.condition)}"
            self.sup.printer.event(self.why, self.service.name, error=True)
            self._decided.set()
            return False
        return True

    def failure_phrase(self, condition: str) -> str:
        name = self.service.name
        if self.phase is Phase.NOT_STARTED:
            return f"{name} was not started"
        if self.phase is Phase.FAILED and self._started.is_set() and not self._exited.is_set():
            return f"{name} never became healthy"
        if self.exit_code is not None and self._exited.is_set():
            if condition == "completed_successfully" and self.exit_code != 0:
                return f"{name} did not complete successfully ({describe_exit(self.exit_code)})"
            return f"{name} {describe_exit(self.exit_code)}"
        return f"{name} could not be started"

    async def _spawn(self) -> str | None:
        """Start a new instance (``self.process``) with its health monitor; the error, if it could not."""
        svc, printer, sup = self.service, self.sup.printer, self.sup
        self.env = service_env(sup.config, svc, sup.ports, sup.record.token)
        self._instances += 1
        terminal = Terminal(printer.sink(svc.name)) if svc.interactive else None
        try:
            if svc.socket and self._listener is None:
                try:
                    self._listener = open_listener(HOST, sup.ports[svc.name]["port"])
                except OSError as exc:
                    raise SpawnError(f"cannot listen on {HOST}:{sup.ports[svc.name]['port']} for it: "
                                     f"{exc.strerror or exc}") from None
            instance = str(self._instances) if svc.reload == "overlap" else None
            process = await ServiceProcess.spawn(
                svc, render_argv(sup.config, sup.ports, svc), self.env, printer.sink(svc.name),
                sup.record.token, sup.tracking.slot(svc.name, instance), listener=self._listener,
                instance=instance, terminal=terminal)
        except SpawnError as exc:
            if terminal is not None:
                terminal.close()
            self._spawn_transient = exc.transient
            return str(exc)
        self.process = process
        self.started_at = time.monotonic()
        self._instance_ready.clear()
        self._started.set()
        failpoints.check("started", svc.name)
        self._started_this_time = True
        printer.event(f"{svc.name} started (pid {process.pid}): {svc.display_cmd}", svc.name)
        if svc.interactive and not self.restarts:
            printer.event(f"{svc.name} runs on a terminal of its own: devstack attach {svc.name} "
                          "connects yours", svc.name)
        self.contract.on_start()
        self._start_monitor()  # (may mark it ready at once: after on_start, which forgets the last one's)
        return None

    async def _run_once(self) -> str:
        """Start the service and wait: returns "restart", "stop", or "ended"."""
        svc, printer, sup = self.service, self.sup.printer, self.sup
        self._exited.clear()
        self._started_this_time = False
        self._following = False
        self.phase = Phase.STARTING
        self.started_at = time.monotonic()
        failed = await self._spawn()
        if failed is not None:
            self.phase, self.exit_code = Phase.FAILED, 127
            self.why = f"{svc.name} failed to start: {failed}"
            printer.event(self.why, svc.name, error=True)
            self._exited.set()
            return "ended"
        assert self.process is not None
        while True:
            exit_wait = asyncio.ensure_future(self.process.wait())
            which = await first(exit_wait, self._restart.wait(), sup.stop_requested(), self._park.wait())
            if which == 1 and svc.reload == "overlap" and not self.process.exited:
                exit_wait.cancel()
                self._restart.clear()
                await self._overlap()
                continue
            if which == 0 and exit_wait.result() == 0 and await self._daemonized():
                which = await first(self._follow(), self._restart.wait(), sup.stop_requested(),
                                    self._park.wait())
            break
        if which != 0:
            exit_wait.cancel()
            self._stop_monitor()
            if which == 1:
                self._restart.clear()
                await self._stop_for_restart()
                return "restart"
            if which == 3:
                self._park.clear()
                await self._stop_now()
                self._exited.set()
                self._parked.set()
                self._resolve_restarted()
                return "parked"
            return "stop"  # the supervisor stops services in dependency order
        self._stop_monitor()
        code = exit_wait.result()
        failpoints.check("exited", svc.name)
        self.exit_code = code
        self.phase = Phase.EXITED
        self._exited.set()
        if self._following:
            printer.event(f"{svc.name} ended: every process of it has exited", svc.name)
        else:
            printer.event(f"{svc.name} {describe_exit(code)}", svc.name, error=code != 0)
        self._port_taken = None
        if code != 0 and self.contract.expected():
            taken = await asyncio.to_thread(self.contract.taken)
            if taken:
                self._port_taken = "; ".join(taken)
        if self.process.members():  # it exited but left processes of its own behind
            printer.event(f"{svc.name}: stopping the processes it left running", svc.name)
        await self.process.stop(sup.force)
        return "ended"

    async def _daemonized(self) -> bool:
        """Its first process exited 0 leaving others running (redis --daemonize yes, nginx, pg_ctl
        start): the service goes on as those. Not for a one-shot task others wait to complete: what
        that leaves behind is stopped."""
        proc = self.process
        if proc is None or self.sup.stopping or self._awaited_to_complete():
            return False
        await proc.slot.settle()
        pids = proc.members(fresh=True)
        if not pids:
            return False
        self._following = True
        name = self.service.name
        shown = ", ".join(map(str, sorted(pids)[:5])) + (" ..." if len(pids) > 5 else "")
        self.sup.printer.event(f"{name}: its first process exited 0 and left {len(pids)} running "
                               f"(pid {shown}); following them as {name}", name)
        return True

    def _awaited_to_complete(self) -> bool:
        name = self.service.name
        return any(d.name == name and d.condition == "completed_successfully"
                   for other in self.sup.config.services.values() for d in other.depends_on)

    async def _follow(self) -> int:
        """Wait until no process of the daemonized instance is left; 0, as the daemon's own exit code is
        not ours to know."""
        proc = self.process
        assert proc is not None
        while True:
            await asyncio.sleep(FOLLOW_POLL)
            if not proc.running:
                return 0

    async def _crash_restart(self) -> bool:
        """Apply the restart policy to an instance that ended on its own: wait out the backoff and
        return True to start again, or False (not restarted, or given up)."""
        svc = self.service
        code = self.exit_code
        # another try would fail the same way while that process holds its port
        if self._port_taken and not self.sup.stopping:
            self.phase = Phase.FAILED
            self.why = f"{svc.name} not restarted: its {self._port_taken}"
            self.sup.printer.event(f"{self.why}; stop that process, then: devstack start {svc.name}",
                                   svc.name, error=True)
            return False
        transient = self.phase is Phase.FAILED and not self._started_this_time and self._spawn_transient
        if self.sup.stopping or not transient and (svc.restart == "no" or svc.restart == "on-failure"
                                                   and code == 0):
            return False  # (a start that failed for want of descriptors, memory... is tried again)
        if self.phase is Phase.FAILED and not self._started_this_time and not self._spawn_transient:
            return False  # could not even be spawned: another try would fail the same way
        if svc.max_restarts is not None and self.crash_restarts >= svc.max_restarts:
            self.phase = Phase.FAILED
            self.why = f"{svc.name} given up after {self.crash_restarts} restarts"
            self.sup.printer.event(f"{self.why} (max_restarts = {svc.max_restarts})", svc.name, error=True)
            return False
        delay = self._next_delay()
        self.crash_restarts += 1
        self.phase = Phase.RESTARTING
        limit = f"/{svc.max_restarts}" if svc.max_restarts is not None else ""
        why = "the machine is short of a resource, see above" if transient else f'restart = "{svc.restart}"'
        self.sup.printer.event(f"{svc.name} restarting in {delay:g} s (restart {self.crash_restarts}{limit}, "
                               f"{why})", svc.name)
        which = await first(asyncio.sleep(delay), self._restart.wait(), self.sup.stop_requested())
        if which == 2:
            return False
        if which == 1 and self.restart_reason:  # a change (or devstack restart) cut the backoff short
            self.sup.printer.event(f"{svc.name} restarting: {self.restart_reason}", svc.name)
            self.restart_reason = None
        self._restart.clear()
        self.restarts += 1
        return True

    def _next_delay(self) -> float:
        """The crash backoff: doubling up to its cap, starting over once an instance ran long enough."""
        settings = self.sup.config.settings
        if time.monotonic() - self.started_at >= settings.restart_reset:
            self._backoff = settings.restart_backoff
        delay = self._backoff
        self._backoff = min(delay * 2, settings.restart_backoff_max)
        return delay

    def _restartable(self) -> bool:
        return bool(self.service.watch) and self.sup.watching and not self.sup.stopping

    def _start_monitor(self) -> None:
        monitor = self.sup.make_monitor(self)
        if monitor is None:
            self.mark_ready()
            return
        self._monitor_task = asyncio.create_task(self._check_health(monitor),
                                                 name=f"health {self.service.name}")

    async def _check_health(self, monitor: Monitor) -> None:
        """The health monitor; if it fails unexpectedly, that is said and the service restarted (as
        when it turns unhealthy), never a check that silently stopped checking."""
        name = self.service.name
        try:
            failpoints.check("monitor", name)
            await monitor.run()
        except Exception as exc:
            message = f"{name}: its health check failed unexpectedly: {describe_error(exc)}"
            self.sup.printer.event(message, name, error=True)
            self.request_restart(message)

    def _stop_monitor(self) -> None:
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            self._monitor_task = None
        self.contract.cancel()

    # -- restart and stop ---------------------------------------------------------------------

    def request_restart(self, reason: str | None = None, *, deliberate: bool = True) -> asyncio.Future[None]:
        """Ask for a restart (``reason`` is printed); the future completes when the new instance is
        ready (or has ended). ``deliberate``: asked for (a change, devstack restart), counted as a
        reload; not a failed health check's."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._restarted.append(fut)
        self.restart_reason = reason
        self._deliberate = deliberate
        self._restart.set()
        return fut

    @property
    def parked(self) -> bool:
        return self.phase is Phase.STOPPED and not self.sup.stopping

    def request_park(self) -> bool:
        """Stop this service and keep it stopped until started again; False if it is not running."""
        if self.process is None or self.process.exited or self.phase in (Phase.STOPPING, Phase.STOPPED):
            return False
        self._park.set()
        return True

    async def wait_parked(self) -> None:
        await self._parked.wait()

    def request_start(self) -> None:
        self._start.set()

    async def _overlap(self) -> None:
        """``reload = "overlap"``: start the new instance on the shared socket while the old one serves;
        once the new one is ready (its health check passed on a connection one of its own processes
        accepted, see ``health.attributed``) and still running, stop the old one gracefully: it finishes
        what it has accepted, and what it has not is served by the new one. If the new one ends or never
        becomes ready, it is stopped and the old one goes on serving."""
        old = self.process
        assert old is not None
        svc, printer, sup = self.service, self.sup.printer, self.sup
        before = self.phase
        self._stop_monitor()
        self.phase = Phase.RESTARTING
        self.restarts += 1
        self.reloads += self._deliberate
        reason = f": {self.restart_reason}" if self.restart_reason else ""
        self.restart_reason = None
        printer.event(f"{svc.name} restarting{reason} (overlap: pid {old.pid} serves until the new "
                      "instance is ready)", svc.name)
        self._previous = old
        failed = await self._spawn()
        new = self.process
        if failed is not None or new is None or new is old:
            self._keep_old(old, before, f"the new instance could not be started: {failed}")
            return
        monitor = self._monitor_task
        waits: list[Awaitable[object]] = [self._instance_ready.wait(), new.wait(), sup.stop_requested()]
        if monitor is not None:
            waits.append(asyncio.shield(monitor))
        which = await first(*waits)
        if which == 0 and not new.exited:
            self._decided.clear()  # a failed probe of the new one may have said "never"
            await old.stop(sup.force)
            self._previous = None
            return
        # it ended, never became ready, or the stack is stopping: the old one stays (and is stopped in
        # dependency order with the rest, if the stack is stopping)
        if which == 2:
            why = "the stack is stopping"
        elif new.exited and new.returncode is not None:
            why = f"the new instance {describe_exit(new.returncode)}"
        else:
            why = "the new instance never became ready"
        self._stop_monitor()
        await new.stop(sup.force)
        self._keep_old(old, before, why)

    def _keep_old(self, old: ServiceProcess, phase: Phase, why: str) -> None:
        """The overlap failed: ``old`` stays the service's instance, as it was."""
        self.process, self._previous = old, None
        self._instance_ready.set()
        self._resolve_restarted()
        if self.sup.stopping:
            return
        self.phase, self.why, self.started_at = phase, "", old.started
        self._decided.clear()
        name = self.service.name
        self.sup.printer.event(f"{name}: keeping pid {old.pid} running: {why}", name, error=True)
        self._start_monitor()

    async def _stop_for_restart(self) -> None:
        proc = self.process
        assert proc is not None
        failpoints.check("restart", self.service.name)
        self.phase = Phase.RESTARTING
        self.restarts += 1
        self.reloads += self._deliberate
        if self.restart_reason:
            name = self.service.name
            self.sup.printer.event(f"{name} restarting: {self.restart_reason}", name)
            self.restart_reason = None
        await proc.stop(self.sup.force)

    async def stop(self, wait_for: list[Runner] | None = None) -> None:
        """Stop after the runners in ``wait_for`` (its dependents) have stopped."""
        if wait_for and not self.sup.force.is_set():
            await first(asyncio.gather(*(r._stopped.wait() for r in wait_for)), self.sup.force.wait())
        try:
            await self._stop_now()
        except Exception as exc:  # stopped anyway, and said: the stack's shutdown goes on
            name = self.service.name
            self.sup.printer.event(f"{name}: unexpected error while stopping it: {describe_error(exc)}; "
                                   "killing its processes", name, error=True)
            if self.process is not None:
                await self._kill_anyway(self.process)
            self.phase = Phase.STOPPED
        finally:
            self._stopped.set()

    async def _stop_now(self) -> None:
        failpoints.check("stop", self.service.name)
        self._stop_monitor()
        previous = self._previous  # the stack stops during an overlap: the old instance goes too
        if previous is not None and previous is not self.process and not previous.exited:
            await previous.stop(self.sup.force)
        proc = self.process
        if proc is None or self._exited.is_set() or proc.exited and not proc.members():
            return
        self.phase = Phase.STOPPING
        svc = self.service
        sig = svc.stop_signal.name
        began = time.monotonic()
        graceful = await proc.stop(self.sup.force)
        self.exit_code = proc.returncode
        self.phase = Phase.STOPPED
        took = time.monotonic() - began
        if graceful:
            self.sup.printer.event(f"{svc.name} stopped ({sig}, {took:.2f} s)", svc.name)
        elif self.sup.force.is_set():
            self.sup.printer.event(f"{svc.name} killed (second interrupt)", svc.name, error=True)
        else:
            self.sup.printer.event(
                f"{svc.name} did not stop within {svc.stop_timeout:g} s of {sig}: killed with SIGKILL "
                f"(raise stop_timeout, or set stop_signal to one it handles)", svc.name, error=True)

