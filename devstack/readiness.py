"""When a set of services has settled: every one ready, or failed. ``devstack wait`` and ``up -d`` ask the
control server, which waits with ``settle``; the foreground stack prints its ready line after the same
wait, so that "ready" means one thing everywhere.

A crash counts as a failure at once, even with restarts to come: waiting out a crash loop's backoff would
tell the user nothing for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .process import describe_exit
from .runner import Phase

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ("FAILED", "READY", "failure", "settle")

READY = (Phase.HEALTHY, Phase.RUNNING)
FAILED = (Phase.FAILED, Phase.NOT_STARTED, Phase.EXITED, Phase.STOPPED)
SETTLE_POLL = 0.05


def _completed(r: Runner) -> bool:
    return r.phase is Phase.EXITED and r.exit_code == 0


def _crashing(r: Runner) -> bool:
    """Waiting out the backoff after a crash (a restart asked for leaves ``exit_code`` alone)."""
    return r.phase is Phase.RESTARTING and r.exit_code not in (None, 0) and r.crash_restarts > 0


def failure(r: Runner) -> str | None:
    """Why ``r`` counts as failed, or None when it is ready (or completed)."""
    if r.phase in READY or _completed(r):
        return None
    name = r.service.name
    if _crashing(r) and r.exit_code is not None:
        return f"{name} {describe_exit(r.exit_code)} and is restarting (restart {r.crash_restarts})"
    if r.phase is Phase.EXITED and r.exit_code is not None:
        return r.why or f"{name} {describe_exit(r.exit_code)}"
    if r.phase in (Phase.STOPPED, Phase.STOPPING):
        return r.why or f"{name} was stopped"
    return r.why or f"{name} is {r.phase.value}"


def _settled(r: Runner, crashes: dict[str, int]) -> bool:
    """Ready, or failed (``crashes``: each one's crash restarts when the wait began)."""
    return (r.phase in READY or r.phase in FAILED or r.phase is Phase.STOPPING
            or r.crash_restarts > crashes[r.service.name] or _crashing(r))


async def settle(runners: Sequence[Runner], stopping: Callable[[], bool]) -> None:
    """Return once every runner has been ready and is ready or failed now (or the stack stops)."""
    await asyncio.gather(*(r.reached("healthy") for r in runners))
    # Ready once is not ready now: a service may since have crashed and be restarting, been given up
    # on, or stopped. The runner has no event for a change of phase, so look again shortly until every
    # one has settled (only while someone waits).
    crashes = {r.service.name: r.crash_restarts for r in runners}
    while not all(_settled(r, crashes) for r in runners) and not stopping():  # noqa: ASYNC110
        await asyncio.sleep(SETTLE_POLL)
