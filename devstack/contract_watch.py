"""One running service's port contract: where its processes listen, against the ports devstack gave it
(``ports.contract.verify`` judges; this module decides when to look and what to tell).

Each finding is told once per instance. A service that is not ready a while after it started is often
listening somewhere else, so it is looked at then (``CHECKS``); and when one ends or turns out ready,
whoever holds its port is named, since its health check may have reached that process instead.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import psutil

from .ports import Finding, Fixes, Listen, holder, listening, verify

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ("CHECKS", "PortContract", "by_port")

# seconds after a start at which a service that is not ready yet gets its sockets looked at
# (seconds after the previous check, whether listening nowhere at all is worth saying by then): a slow
# starter (a database initialising) is not told off at 2 s, but one listening elsewhere is
CHECKS = ((2.0, False), (8.0, True), (20.0, True))


class PortContract:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.findings: list[Finding] = []
        self._told: set[str] = set()  # findings already told for the current instance
        self._task: asyncio.Task[None] | None = None

    def expected(self) -> dict[str, int]:
        r = self.runner
        return dict(r.sup.ports.get(r.service.name, {}))

    def listens(self) -> list[Listen]:
        proc = self.runner.process
        if proc is None or not proc.running:
            return []
        return listening(proc.members())

    def check(self, *, listening_expected: bool) -> list[Finding]:
        """Compare where the service listens with the ports it was given; tell each new finding once
        per instance. "Listens nowhere" is only a finding once it should be listening."""
        name = self.runner.service.name
        listens = self.listens()
        findings = verify(name, self.expected(), listens)
        if not listening_expected:
            findings = [f for f in findings if f.kind not in ("not_listening", "missing_port")]
        if findings:  # worded for the tool that runs, which takes a look at its processes
            kinds = {f.kind for f in findings}
            findings = [f for f in verify(name, self.expected(), listens, self.fixes(listens))
                        if f.kind in kinds]
        self.findings = findings
        for f in findings:
            if f.message not in self._told:
                self._told.add(f.message)
                self.runner.sup.printer.event(f.message, name, error=True)
        return findings

    def fixes(self, listens: list[Listen]) -> Fixes:
        """The fixes to name, from the service's cmd and its processes' command lines (those that
        listen first: ``npm run dev`` is vite when vite listens)."""
        proc = self.runner.process
        pids = [s.pid for s in listens] + (proc.members() if proc is not None else [])
        argvs = []
        for pid in dict.fromkeys(pids):
            try:
                argvs.append(psutil.Process(pid).cmdline())
            except psutil.Error:
                continue
        return Fixes.of(self.runner.service.display_cmd, argvs)

    def taken(self) -> list[str]:
        """Ports of this service that another process listens on (one that took a port between its
        allocation and the service's bind): "port N is in use by pid X (cmd)"."""
        r = self.runner
        proc = r.process
        # its own, or a process of the run not yet attributed to a service (a daemon a moment old)
        mine = set(proc.members(fresh=True)) if proc is not None else set()
        mine.update(r.sup.tracking.unattributed())
        own = {s.port for s in self.listens()}
        taken = []
        for key, port in self.expected().items():
            if port in own:
                continue
            who = holder(port, listening_only=True)
            if who is not None and who.pid not in mine and who.pid != os.getpid():  # socket = true
                label = "port" if key == "port" else f"{key} port"
                taken.append(f"{label} {port} is in use by {who}")
        return taken

    def on_ready(self) -> None:
        """The service has become ready: where does it listen, and is its port someone else's?"""
        if not self.expected():
            return
        self.check(listening_expected=False)
        name = self.runner.service.name
        for taken in self.taken():
            self.runner.sup.printer.event(f"{name}: {taken}, not by {name}", name, error=True)

    def on_start(self) -> None:
        """A new instance has started: forget what was told of the last one, and look at it later."""
        self._told.clear()
        self.findings = []
        if self.expected():
            self._task = asyncio.create_task(self._look_later(), name=f"contract {self.runner.service.name}")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _look_later(self) -> None:
        r = self.runner
        for delay, nowhere_counts in CHECKS:
            await asyncio.sleep(delay)
            if r.process is None or not r.process.running:
                return
            if not r.instance_ready or r.service.health.kind in ("started", "cmd"):
                findings = self.check(listening_expected=nowhere_counts)
                if r.service.health.kind == "port" and any(f.kind == "not_listening" for f in findings):
                    r.mark_running_unlistened()


def by_port(listens: list[Listen]) -> dict[str, list[str]]:
    """Port -> the addresses it listens on, each once: a socket held by several processes (a pre-forked
    server's workers, or the two instances of an overlapping reload) is one socket to the user."""
    out: dict[str, list[str]] = {}
    for sock in listens:
        ips = out.setdefault(str(sock.port), [])
        if sock.ip not in ips:
            ips.append(sock.ip)
    return out
