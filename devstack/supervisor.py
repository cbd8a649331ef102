"""Run a stack: start its services, stream their output, stop everything on a signal, leave nothing.

One asyncio task per service owns its child process. Signals are handled in the event loop:
SIGINT, SIGTERM or SIGHUP stop the stack gracefully; a second SIGINT kills what is left at once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from . import state
from .config import Config, Service
from .environment import Ports, render_argv, service_env
from .errors import DevstackError
from .guardian import start_guardian
from .output import Printer
from .process import ServiceProcess, SpawnError, describe_exit
from .tree import find_members, kill_all, reap_orphans, set_child_subreaper, unregister_child

__all__ = ("Options", "Supervisor", "reap_previous_run")

log = logging.getLogger("devstack.supervisor")

EXIT_CODES = {
    signal.SIGINT: 130,  # Ctrl-C
    signal.SIGTERM: 143,  # sent by kill <pid>
    signal.SIGHUP: 129,  # the terminal went away
}


@dataclass(frozen=True)
class Options:
    abort_on_exit: bool = False


class State(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"
    FAILED = "failed"  # could not be started


class Runner:
    """One service's life: start, wait, report."""

    def __init__(self, service: Service, sup: Supervisor) -> None:
        self.service = service
        self.sup = sup
        self.state = State.PENDING
        self.process: ServiceProcess | None = None
        self.exit_code: int | None = None

    async def run(self) -> None:
        svc, printer = self.service, self.sup.printer
        printer.start_log(svc.name)
        if self.sup.stopping:
            return
        try:
            self.process = await ServiceProcess.spawn(
                svc, render_argv(self.sup.config, self.sup.ports, svc),
                service_env(self.sup.config, svc, self.sup.ports, self.sup.record.token),
                printer.sink(svc.name), self.sup.record.token)
        except SpawnError as exc:
            self.state, self.exit_code = State.FAILED, 127
            printer.event(f"{svc.name} failed to start: {exc}", svc.name, error=True)
            self.sup.service_ended(self)
            return
        self.state = State.RUNNING
        self.sup.record_group(svc.name, self.process.pid)
        printer.event(f"{svc.name} started (pid {self.process.pid}): {svc.display_cmd}", svc.name)
        if self.sup.stopping:  # the stack was told to stop while this one was being spawned
            await self.stop()
            return
        code = await self.process.wait()
        if self.state is State.STOPPING:
            return  # stop() reports
        self.exit_code = code
        self.state = State.EXITED
        printer.event(f"{svc.name} {describe_exit(code)}", svc.name, error=code != 0)
        if self.process.members():  # it exited but left processes of its own behind
            printer.event(f"{svc.name}: stopping the processes it left running", svc.name)
        await self.process.stop(self.sup.force)
        self.sup.service_ended(self)

    async def stop(self) -> None:
        proc = self.process
        if proc is None or self.state is not State.RUNNING:
            return
        self.state = State.STOPPING
        svc = self.service
        sig = svc.stop_signal.name
        started = time.monotonic()
        graceful = await proc.stop(self.sup.force)
        self.exit_code = proc.returncode
        self.state = State.EXITED
        took = time.monotonic() - started
        if graceful:
            self.sup.printer.event(f"{svc.name} stopped ({sig}, {took:.2f} s)", svc.name)
        elif self.sup.force.is_set():
            self.sup.printer.event(f"{svc.name} killed (second interrupt)", svc.name, error=True)
        else:
            self.sup.printer.event(
                f"{svc.name} did not stop within {svc.stop_timeout:g} s of {sig}: killed with SIGKILL "
                f"(raise stop_timeout, or set stop_signal to one it handles)", svc.name, error=True)


class Supervisor:
    def __init__(self, config: Config, names: Iterable[str], printer: Printer,
                 options: Options = Options()) -> None:
        self.config = config
        self.printer = printer
        self.options = options
        self.runners = {n: Runner(config.services[n], self) for n in names}
        self.ports: Ports = {}
        self.record = state.RunRecord.for_this_process()
        self.force = asyncio.Event()
        self._stop = asyncio.Event()
        self._stop_signal: signal.Signals | None = None
        self._remaining = len(self.runners)
        self._all_ended = asyncio.Event()
        self._guardian: subprocess.Popen[bytes] | None = None
        self._reap_handle: asyncio.TimerHandle | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        state_dir = state.ensure_state_dir(self.config.state_dir)
        set_child_subreaper()
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        state.write_run(state_dir, self.record)
        self._guardian = start_guardian(self.record.token, state_dir)
        try:
            tasks = [asyncio.create_task(r.run(), name=f"service {n}")
                     for n, r in self.runners.items()]
            if not tasks:
                self._all_ended.set()
            stop_wait = asyncio.create_task(self._stop.wait())
            ended_wait = asyncio.create_task(self._all_ended.wait())
            await asyncio.wait([stop_wait, ended_wait], return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            ended_wait.cancel()
            if self._stop.is_set():
                await self._stop_all()
            await asyncio.gather(*tasks)
        finally:
            self._remove_signals(loop)
            state.clear_run(state_dir)
            self._close_guardian()
            self.printer.close()
        if self._stop_signal is not None:
            return EXIT_CODES.get(self._stop_signal, 1)
        failed = any(r.exit_code not in (0, None) for r in self.runners.values())
        return 1 if failed else 0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self.printer.event(f"stopping ({reason})")
            self._stop.set()

    def service_ended(self, runner: Runner) -> None:
        self._remaining -= 1
        if self.options.abort_on_exit and not self._stop.is_set():
            self.request_stop(f"{runner.service.name} ended and --abort-on-exit is set")
        if self._remaining == 0:
            if not self._stop.is_set():
                self.printer.event("all services have ended")
            self._all_ended.set()

    def record_group(self, name: str, pid: int) -> None:
        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        self.record.groups[name] = [pid, started]
        state.write_run(self.config.state_dir, self.record)

    async def _stop_all(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.runners.values()))
        # anything of the run that escaped every process group (re-parented to us as subreaper)
        left = find_members(self.record.token)
        if left:
            self.printer.event(f"stopping {len(left)} leftover process(es) of this run")
            await asyncio.to_thread(kill_all, left, 1.0)
        reap_orphans()
        self.printer.event("all services stopped")

    # -- signals ------------------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in EXIT_CODES:
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)

    def _remove_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (*EXIT_CODES, signal.SIGCHLD):
            loop.remove_signal_handler(sig)
        if self._reap_handle is not None:
            self._reap_handle.cancel()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_signal is None:
            self._stop_signal = sig
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

    def _close_guardian(self) -> None:
        g = self._guardian
        if g is None:
            return
        assert g.stdin is not None
        g.stdin.close()
        try:
            g.wait(timeout=5)
        except subprocess.TimeoutExpired:
            g.kill()
            g.wait()
        unregister_child(g.pid)


def reap_previous_run(config: Config, printer: Printer) -> None:
    """Refuse to run beside a live supervisor of the same project; stop what a dead one left behind."""
    record = state.read_run(config.state_dir)
    if record is None:
        return
    if record.alive and record.pid != os.getpid():
        raise DevstackError(
            f"devstack is already running for this project (pid {record.pid}); "
            f"stop it with Ctrl-C in its terminal (or kill {record.pid}) before starting another")
    leftovers = find_members(record.token, pgids=record.live_groups(), everywhere=True)
    if leftovers:
        printer.event(f"stopping {len(leftovers)} process(es) left running by an earlier devstack "
                      f"(pid {record.pid}) that did not shut down")
        kill_all(leftovers, 1.0)
    state.clear_run(config.state_dir)
