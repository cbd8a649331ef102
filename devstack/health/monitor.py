"""A service's health followed over time, with docker compose's rules and names.

While the service is starting it is probed every ``start_interval``. Failures within ``start_period`` of
its start do not count; after that, ``retries`` failures in a row mean it never became healthy (a final
state). Once healthy it is probed every ``interval``: ``retries`` failures in a row make it unhealthy, and
one success makes it healthy again::

    starting --> healthy <--> unhealthy
        \\
         `--> failed ("never became healthy")

Each transition is reported once, through ``on_change(state, message)``::

    api healthy in 0.42 s
    api unhealthy: GET /healthz returned 500 (3 times)
    api healthy again
    api never became healthy: connection refused on 127.0.0.1:21432

Between probes the monitor sleeps on the event loop; cancelling ``run()`` stops it at once, including a
``cmd`` check in flight (its process group is killed).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config.model import HealthCheck
from .attributed import Owners, probe_attributed
from .probes import Prober, ProbeResult

__all__ = ("HealthMonitor", "HealthState")

log = logging.getLogger("devstack.health")


class HealthState(enum.Enum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    FAILED = "failed"  # never became healthy: final


class HealthMonitor:
    """Follows one running service process's health. ``started_at`` is when the process started, on
    the ``time.monotonic()`` clock (``ServiceProcess.started``); ``ports`` are its ports by
    ``PortSpec.key``; ``cwd`` and ``env`` are what a ``cmd`` check runs with. ``owners`` (a service with
    ``socket = true``): probes of the main port count only when a process of this instance accepts
    them (``attributed``)."""

    def __init__(self, name: str, check: HealthCheck, prober: Prober,
                 ports: Mapping[str, int] | None = None, cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None,
                 on_change: Callable[[HealthState, str], None] | None = None,
                 started_at: float | None = None, owners: Owners | None = None) -> None:
        self.name = name
        self.check = check
        self.prober = prober
        self.ports = dict(ports or {})
        self.cwd = cwd
        self.env = env
        self.on_change = on_change
        # socket = true: probes of the main port count only when this instance accepts them
        self.owners = owners if check.kind in ("http", "tcp", "port") and not check.port else None
        self.started_at = time.monotonic() if started_at is None else started_at
        self.last: ProbeResult | None = None  # the latest probe's result
        self._state = HealthState.STARTING
        self._decided = asyncio.Event()  # healthy, failed, or no longer monitored
        self._became_healthy = False

    def __repr__(self) -> str:
        return f"HealthMonitor({self.name!r}, {self.check.kind}, state={self._state.value})"

    @property
    def state(self) -> HealthState:
        return self._state

    async def wait_ready(self) -> bool:
        """Wait until the service has become healthy (True), or never will: it failed, or the monitor
        stopped before it got there (False)."""
        await self._decided.wait()
        return self._became_healthy

    async def run(self) -> None:
        """Monitor until cancelled. Returns early only when nothing can change any more: the service
        never became healthy, or its check is ``started``."""
        try:
            if not await self._until_healthy() or self.check.kind == "started":
                return
            await self._while_running()
        finally:
            self._decided.set()

    async def _until_healthy(self) -> bool:
        check = self.check
        retries = max(1, check.retries)
        failures = 0
        while True:
            result = await self._probe()
            if result.ok:
                self._became_healthy = True
                elapsed = time.monotonic() - self.started_at
                self._change(HealthState.HEALTHY, f"{self.name} healthy in {elapsed:.2f} s")
                return True
            if time.monotonic() - self.started_at >= check.start_period:
                failures += 1
                if failures >= retries:
                    self._change(HealthState.FAILED, f"{self.name} never became healthy: {result.detail}")
                    return False
            await asyncio.sleep(check.start_interval)

    async def _while_running(self) -> None:
        check = self.check
        retries = max(1, check.retries)
        failures = 0
        while True:
            await asyncio.sleep(check.interval)
            result = await self._probe()
            if result.ok:
                failures = 0
                if self._state is HealthState.UNHEALTHY:
                    self._change(HealthState.HEALTHY, f"{self.name} healthy again")
                continue
            failures += 1
            if self._state is HealthState.HEALTHY and failures >= retries:
                self._change(HealthState.UNHEALTHY,
                             f"{self.name} unhealthy: {result.detail} ({failures} times)")

    async def _probe(self) -> ProbeResult:
        if self.owners is not None and "port" in self.ports:
            result = await probe_attributed(self.check, self.ports["port"], self.owners, self.prober.host)
        else:
            result = await self.prober.probe(self.check, self.ports, self.cwd, self.env)
        if not result.ok:
            log.debug("%s: health check failed: %s", self.name, result.detail)
        self.last = result
        return result

    def _change(self, state: HealthState, message: str) -> None:
        self._state = state
        if state is not HealthState.UNHEALTHY:
            self._decided.set()
        log.debug("%s", message)
        if self.on_change is not None:
            self.on_change(state, message)
