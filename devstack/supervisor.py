"""Run a stack: start its services, stream their output, stop everything on a signal, leave nothing.

One asyncio task per service owns its child process. Signals are handled in the event loop:
SIGINT, SIGTERM or SIGHUP stop the stack gracefully; a second SIGINT kills what is left at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from . import state
from .aio import first, quiet_loop_errors
from .config import Config
from .control.paths import socket_place
from .control.server import ControlServer
from .entry import interrupted_early
from .environment import Ports
from .errors import describe_error
from .files import StateError
from .graph import dependents, stop_before, with_dependencies
from .guardian import CLEAN, guardian_line, start_guardian
from .health import HealthMonitor, HealthState, Prober
from .keeper import keep_state_dir
from .output import Printer
from .ports import Listen, listening
from .process import describe_exit
from .readiness import failure, settle
from .report import PORTS_HEADER, ports_rows, table
from .runner import Monitor, Phase, Runner
from .tracking import Tracking, start_tracking
from .tree import find_members, kill_all, reap_orphans, set_child_subreaper, unregister_child

if TYPE_CHECKING:
    from .watch import StackWatcher

__all__ = ("Options", "Supervisor", "reap_previous_run")

log = logging.getLogger("devstack.supervisor")

TOLD_MAX = 1024

EXIT_CODES = {
    signal.SIGINT: 130,  # Ctrl-C
    signal.SIGTERM: 143,  # sent by kill <pid>
    signal.SIGHUP: 129,  # the terminal went away
}


@dataclass(frozen=True)
class Options:
    abort_on_exit: bool = False
    watch: bool = True


class Supervisor:
    def __init__(self, config: Config, names: Iterable[str], printer: Printer,
                 options: Options = Options()) -> None:
        self.config = config
        self.printer = printer
        self.options = options
        self.runners = {n: Runner(config.services[n], self) for n in names}
        self.watching = False
        self.watcher: StackWatcher | None = None
        self.prober: Prober | None = None
        self.ports: Ports = {}
        self.record = state.RunRecord.for_this_process(config.path)
        self.tracking: Tracking = None  # type: ignore[assignment]  # set by run(), before any service
        self.force = asyncio.Event()
        self._stop = asyncio.Event()
        self._stop_signal: signal.Signals | None = None
        self._guardian: subprocess.Popen[bytes] | None = None
        self._reap_handle: asyncio.TimerHandle | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._told: dict[int, int] = {}  # process of the run -> its start time, as told to the guardian
        self._closing = False
        self._record_failed = False

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        state_dir = state.ensure_state_dir(self.config.state_dir)
        # the control socket first: a stack that could not be steered or stopped from another terminal
        # must not start at all (StateError: the path and why, nothing started)
        place = socket_place(state_dir)
        if place.note:
            self.printer.event(place.note, error=True)
        control = ControlServer(self, place)
        await control.start()
        self.record.control = str(control.path)
        set_child_subreaper()
        loop = asyncio.get_running_loop()
        quiet_loop_errors(loop, lambda text: self.printer.event(text, error=True))
        self._install_signals(loop)
        watch_task: asyncio.Task[None] | None = None
        clean = False
        try:
            self.tracking = start_tracking(self.record.token)
            if self.tracking.kind != "cgroup":
                self.printer.event(f"tracking processes by their tree: {self.tracking.detail}")
            self.record.cgroup = str(self.tracking.run_cgroup) if self.tracking.run_cgroup else None
            self._start_guardian()
            assert self.tracking.tree is not None
            self.tracking.tree.on_new = self._tell_guardian
            self.prober = Prober()
            state.write_run(state_dir, self.record)
            watch_task = await self._start_watching()
            for name, runner in self.runners.items():
                self.printer.start_log(name)
                self._launch(runner)
            progress = asyncio.create_task(self._progress(), name="progress")
            ready = asyncio.create_task(self._announce_ready(), name="ready line")
            keeper = asyncio.create_task(keep_state_dir(self, control), name="state keeper")
            tracker = asyncio.create_task(self._track(), name="track")
            if not self.runners:
                self._idle.set()
            await first(self._stop.wait(), self._idle.wait())
            if self._stop.is_set():
                await self._stop_all()
            else:
                self.printer.event("all services have ended")
            progress.cancel()
            ready.cancel()
            keeper.cancel()
            tracker.cancel()
            self.printer.set_status(None)
            await asyncio.gather(*self._tasks.values())
            if not self._stop.is_set():
                await self._sweep()
            clean = True  # everything of the run is stopped: the guardian need not look
        finally:
            if watch_task is not None:
                watch_task.cancel()
                await asyncio.gather(watch_task, return_exceptions=True)
            self._remove_signals(loop)
            await control.close()
            if self.prober is not None:
                await self.prober.aclose()
            if self.tracking is not None:
                if not clean:  # a crash of devstack's own code: nothing it started may outlive it
                    await self._sweep()
                clean = self._last_look() and clean
            state.clear_run(state_dir)
            self._close_guardian(clean)
            self.printer.close()
        if self._stop_signal is not None:
            return EXIT_CODES.get(self._stop_signal, 1)
        return 1 if any(self._failed(r) for r in self.runners.values()) else 0

    @staticmethod
    def _failed(r: Runner) -> bool:
        return r.phase in (Phase.FAILED, Phase.NOT_STARTED) or (r.exit_code not in (0, None)
                                                                and r.phase is Phase.EXITED)

    async def _announce_ready(self) -> None:
        """Once every service of the run has settled (ready, or failed), one summary: how long it took,
        and where each one is (the table ``up -d`` prints). Later changes are one line each."""
        began = time.monotonic()
        runners = list(self.runners.values())
        await settle(runners, lambda: self.stopping)
        if self.stopping or not runners:
            return
        took = time.monotonic() - began
        failed = [r.service.name for r in runners if failure(r) is not None]
        head = f"ready in {took:.2f} s" if not failed else \
            f"{len(runners) - len(failed)} of {len(runners)} services ready in {took:.2f} s; not ready: " \
            + ", ".join(failed)
        rows = ports_rows(self.snapshot()["services"])
        self.printer.set_status(None)  # nothing is starting or waiting any more
        self.printer.event(f"{head}\n{table(PORTS_HEADER, rows)}", error=bool(failed))

    async def _progress(self) -> None:
        """On a terminal, while services start: a live line of who waits on what, each for how long
        (since its own start, or restart, or since it began to wait)."""
        if not self.printer.live:
            return
        waiting_since: dict[str, float] = {}
        while True:
            parts = []
            now = time.monotonic()
            for name, r in self.runners.items():
                if r.phase is Phase.WAITING:
                    since = waiting_since.setdefault(name, now)
                    pending = [d for d in r.service.depends_on if not self.runners[d.name].holds(d.condition)]
                    deps = ", ".join(f"{d.name} ({d.condition.replace('_', ' ')})" for d in pending)
                    parts.append(f"{name} waiting for {deps} ({now - since:.1f} s)")
                    continue
                waiting_since.pop(name, None)
                if r.phase is Phase.STARTING:
                    parts.append(f"{name} starting ({now - r.started_at:.1f} s)")
            self.printer.set_status(f"… {' · '.join(parts)}" if parts else None)
            await asyncio.sleep(0.25)

    async def _track(self) -> None:
        """Without cgroups, look at devstack's process tree now and then, so that each process is
        attributed to its service (and the guardian told of it) while its parent still shows whose it
        is."""
        tree = self.tracking.tree
        if self.tracking.kind == "cgroup" or tree is None:
            return
        while True:
            tree.refresh()
            await asyncio.sleep(tree.pace())

    # -- watching -----------------------------------------------------------------------------

    async def _start_watching(self) -> asyncio.Task[None] | None:
        """One watcher for the whole stack, watching before the first service starts. (The watch package
        and watchfiles are imported here, not above: a stack that watches nothing does without them.)"""
        if not self.options.watch or not any(r.service.watch for r in self.runners.values()):
            return None
        from .watch import StackWatcher

        self.watcher = StackWatcher.from_config(self.config, restart=self._restart_on_change,
                                                on_pause=self._watch_paused, names=self.runners)
        task = await self.watcher.start()
        self.watching = True
        return task

    async def _restart_on_change(self, name: str, paths: list[Path]) -> None:
        runner = self.runners[name]
        if self.stopping or runner.parked:
            return
        from .watch import describe_change

        reason = describe_change(paths, runner.service.cwd)
        await runner.request_restart(reason)
        if runner.service.restart_dependents:
            for dependent in dependents([name], self.config.services):
                other = self.runners.get(dependent)
                if other is not None and not other.parked and other.process is not None:
                    await other.request_restart(f"{name}, which it depends on, restarted")

    def _watch_paused(self, name: str, paths: list[Path]) -> None:
        from .watch import describe_loop

        self.printer.event(describe_loop(name, paths, self.runners[name].service.cwd), name, error=True)

    def _launch(self, runner: Runner) -> None:
        """Run a service's life in a task of its own; the stack has ended when every such task has."""
        task = asyncio.create_task(self._run_service(runner), name=f"service {runner.service.name}")
        self._tasks[runner.service.name] = task
        self._idle.clear()
        task.add_done_callback(self._task_done)

    def _task_done(self, _: asyncio.Task[None]) -> None:
        if all(t.done() for t in self._tasks.values()):
            self._idle.set()

    # -- what the control API asks ------------------------------------------------------------

    def start_services(self, names: list[str]) -> list[str]:
        """Start the named services and what they depend on, where not running; returns those started."""
        started = []
        for name in with_dependencies(names, self.config.services):
            runner = self.runners.get(name)
            if runner is None:  # not part of this run (devstack up NAME): it joins now
                runner = self.runners[name] = Runner(self.config.services[name], self)
                self.printer.start_log(name)
            task = self._tasks.get(name)
            if runner.parked:
                runner.request_start()
            elif task is None or task.done():
                self._launch(runner)
            else:
                continue
            started.append(name)
        return started

    def stop_services(self, names: list[str]) -> list[str]:
        return [n for n in names if self.runners[n].request_park()]

    async def restart_services(self, names: list[str], within: float) -> dict[str, str]:
        """Restart each named service (start it if it is not running); wait until each is ready again
        (for at most ``within`` seconds). Returns each one's state afterwards."""
        waits: list[asyncio.Future[Any]] = []
        for name in names:
            if self.watcher is not None:
                self.watcher.resume(name)  # a restart by hand also ends a loop-guard pause
            runner = self.runners.get(name)
            task = self._tasks.get(name)
            if runner is None or runner.parked or task is None or task.done():
                self.start_services([name])
                runner = self.runners[name]
                waits.append(asyncio.ensure_future(runner.reached("healthy")))
            else:
                waits.append(runner.request_restart("asked by devstack restart"))
        if waits:
            await asyncio.wait(waits, timeout=within)
        for fut in waits:
            fut.cancel()
        return {n: self.runners[n].phase.value for n in names}

    async def _run_service(self, runner: Runner) -> None:
        try:
            await runner.run()
        except Exception as exc:  # the runner keeps itself going; this is the last net, and says so
            name = runner.service.name
            runner.phase, runner.why = Phase.FAILED, f"{name}: devstack stopped supervising it: " \
                                                     f"{describe_error(exc)}"
            log.error("%s", runner.why)
        if self.options.abort_on_exit and not self.stopping:
            self.request_stop(f"{runner.service.name} ended and --abort-on-exit is set")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop_requested(self) -> Coroutine[object, object, bool]:
        return self._stop.wait()

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.printer.event(f"stopping ({reason})")
            self._stop.set()

    def make_monitor(self, runner: Runner) -> Monitor | None:
        """The health monitor for a freshly started service; None when it is ready once started."""
        svc = runner.service
        if svc.health.kind == "started" or self.prober is None:
            return None
        first = True

        def on_change(health: HealthState, message: str) -> None:
            nonlocal first
            if health is HealthState.HEALTHY:
                if first and runner.restarts:
                    message = message.replace(f"{svc.name} healthy in", f"{svc.name} restarted, healthy in")
                first = False
                runner.mark_ready(message)
            elif health is HealthState.UNHEALTHY:
                runner.mark_unhealthy(message)
            elif health is HealthState.FAILED:
                runner.mark_never_ready(message)

        return HealthMonitor(svc.name, svc.health, self.prober, ports=self.ports.get(svc.name, {}),
                             cwd=svc.cwd, env=runner.env, on_change=on_change, started_at=runner.started_at,
                             owners=runner.owners(runner.process) if svc.socket else None)

    def snapshot(self) -> dict[str, Any]:
        """The live state of the stack, as the control API serves it. Where every service listens is
        looked up in one pass over the processes and one over the sockets, not one per service."""
        service_of = {pid: n for n, r in self.runners.items() if r.process is not None
                      for pid in r.process.members()}
        listens: dict[str, list[Listen]] = {}
        for sock in listening(service_of):
            listens.setdefault(service_of[sock.pid], []).append(sock)
        return {
            "pid": os.getpid(),
            "project": str(self.config.root),
            "config": str(self.config.path),
            "stopping": self.stopping,
            "tracking": {"kind": self.tracking.kind, "detail": self.tracking.detail},
            "services": [r.snapshot(listens.get(n, [])) for n, r in self.runners.items()],
        }

    def save_record(self) -> None:
        """Write run.json. Supervision never depends on it: a failure (a full disk) is said once, and
        the next write that succeeds brings the record up to date."""
        try:
            state.write_run(self.config.state_dir, self.record)
        except StateError as exc:
            if not os.path.isdir(self.config.state_dir):
                return  # removed under the stack: the keeper makes it again, and writes the record
            if not self._record_failed:
                self._record_failed = True
                self.printer.event(f"{exc} (the run's record); the stack goes on without it", error=True)
            return
        self._record_failed = False

    async def _stop_all(self) -> None:
        """Dependents stop before what they depend on; unrelated services stop in parallel."""
        waits = stop_before(self.runners, self.config.services)
        await asyncio.gather(*(r.stop([self.runners[w] for w in waits[n]]) for n, r in self.runners.items()))
        await self._sweep()
        self.printer.event("all services stopped")

    async def _sweep(self) -> None:
        """Stop anything of the run no service stopped (one that ended left it; a process no service
        could be told of): the run's cgroup, devstack's descendants, the environment markers."""
        left = self._leftovers()
        if left:
            self.printer.event(f"stopping {len(left)} leftover process(es) of this run")
            await asyncio.to_thread(kill_all, left, 1.0)
        reap_orphans()

    def _leftovers(self) -> list[psutil.Process]:
        pids = set(self.tracking.pids()) | {p.pid for p in find_members(self.record.token)}
        out = []
        for pid in pids - {os.getpid()}:
            try:
                out.append(psutil.Process(pid))
            except psutil.Error:
                continue
        return out

    def _last_look(self) -> bool:
        """devstack never exits while a process it started lives: SIGKILL whatever is left (there should
        be nothing), and remove the run's cgroup. True if nothing was left."""
        left = self._leftovers()
        if left:
            log.warning("killing processes of the run still alive at exit: %s", [p.pid for p in left])
            self.tracking.kill_all()
            kill_all(left, 0.0)
        reap_orphans()
        self.tracking.close()
        return not left

    # -- signals ------------------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in EXIT_CODES:
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        # Hundreds of services ending at once (a large stack stopping) send more SIGCHLDs than asyncio's
        # wakeup socket holds while the loop is busy stopping them; CPython then prints a traceback for
        # every byte it could not write ("Exception ignored when trying to write to the signal wakeup
        # fd"). The byte is dropped either way, and a dropped SIGCHLD is made up by the next one: keep
        # the wakeup fd, lose the warnings.
        signal.set_wakeup_fd(signal.set_wakeup_fd(-1), warn_on_full_buffer=False)
        if interrupted_early():  # a Ctrl-C before this point that something on the way swallowed
            self._on_signal(signal.SIGINT)

    def _remove_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (*EXIT_CODES, signal.SIGCHLD):
            loop.remove_signal_handler(sig)
        if self._reap_handle is not None:
            self._reap_handle.cancel()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_signal is None:
            self._stop_signal = sig
            if sig == signal.SIGINT:
                self.printer.after_echo()
            self.request_stop(f"{sig.name} received; press Ctrl-C again to kill at once")
        elif sig == signal.SIGINT and not self.force.is_set():
            self.printer.event("second interrupt: killing every service now", error=True)
            self.force.set()

    def _on_sigchld(self) -> None:
        # Re-parented daemons must be reaped by us. Deferred, so that a child asyncio has just
        # spawned is registered (and left to asyncio's own watcher) before anyone looks at it.
        if self._reap_handle is None or self._reap_handle.cancelled():
            loop = asyncio.get_running_loop()
            self._reap_handle = loop.call_later(0.2, self._reap)

    def _reap(self) -> None:
        self._reap_handle = None
        reap_orphans()
        g = self._guardian
        if g is not None and g.poll() is not None and not self._closing:
            self.printer.event(f"the guardian (pid {g.pid}) ended unexpectedly "
                               f"({describe_exit(g.returncode)}); starting a new one", error=True)
            unregister_child(g.pid)
            self._start_guardian()

    def _start_guardian(self) -> None:
        """The guardian, told of the run's cgroup and of every process of the run seen so far."""
        self._guardian = start_guardian(self.record.token, self.tracking.run_cgroup)
        for pid, start in self._told.items():
            self._tell_guardian(pid, start, remember=False)

    def _tell_guardian(self, pid: int, start: int, remember: bool = True) -> None:
        if remember:
            self._told[pid] = start
            if len(self._told) > 4 * TOLD_MAX:  # forget the dead now and then
                self._told = {p: s for p, s in self._told.items() if psutil.pid_exists(p)}
        g = self._guardian
        if g is None or g.stdin is None:
            return
        try:
            g.stdin.write(guardian_line(pid, start))
            g.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it died: _reap starts a new one, told of everything again

    def _close_guardian(self, clean: bool) -> None:
        """Let the guardian go: told that everything is stopped (``clean``), it exits at once; else it
        looks for what is left of the run and stops it."""
        self._closing = True
        g = self._guardian
        if g is None:
            return
        assert g.stdin is not None
        if clean:
            try:
                g.stdin.write(CLEAN)
                g.stdin.flush()
            except BrokenPipeError:
                pass
        g.stdin.close()
        try:
            g.wait(timeout=5)
        except subprocess.TimeoutExpired:
            g.kill()
            g.wait()
        unregister_child(g.pid)


def reap_previous_run(config: Config, printer: Printer) -> None:
    """Stop what an earlier supervisor of this config, killed before it could, left behind. The caller
    holds the project's lock, so no supervisor of it runs. Nothing is stopped on run.json's word alone
    (the file may have been copied, committed or forged): only what is in the run's cgroup (named after
    its token, owned by this user) or carries its token in its environment."""
    record = state.read_any_run(config.state_dir)
    if record is None:
        return
    why = state.foreign(config.state_dir, record)
    if why is not None:
        printer.event(f"ignoring {config.state_dir / state.RUN_FILE}: {why}")
        state.clear_run(config.state_dir)
        return
    from . import cgroup

    run_cgroup = cgroup.is_run_cgroup(record.cgroup or "", record.token)
    pids = set(cgroup.members(run_cgroup)) if run_cgroup is not None else set()
    leftovers = find_members(record.token, everywhere=True)
    pids -= {p.pid for p in leftovers}
    for pid in pids:
        try:
            leftovers.append(psutil.Process(pid))
        except psutil.Error:
            continue
    if leftovers:
        printer.event(f"stopping {len(leftovers)} process(es) left running by an earlier devstack "
                      f"(pid {record.pid}) that did not shut down")
        kill_all(leftovers, 1.0)
    if run_cgroup is not None:
        cgroup.clear(run_cgroup)
    state.clear_run(config.state_dir)
