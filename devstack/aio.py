"""Small asyncio helpers shared by the supervisor and the runners."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import describe_error

__all__ = ("first", "quiet_loop_errors")


async def first(*waitables: Awaitable[object]) -> int:
    """Wait for the first of several awaitables; returns its index and cancels the others (futures
    passed in are left to their owners)."""
    futures = [asyncio.ensure_future(w) for w in waitables]
    owned = [f for f, w in zip(futures, waitables, strict=True) if f is not w]
    try:
        done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        return next(i for i, f in enumerate(futures) if f in done)
    finally:
        for f in owned:
            if not f.done():
                f.cancel()


def quiet_loop_errors(loop: asyncio.AbstractEventLoop, report: Callable[[str], None]) -> None:
    """What asyncio itself reports (a callback or a task that raised, a transport that failed) in one
    line, never a traceback, and each kind once: an error that repeats (out of descriptors, a full disk)
    would otherwise flood the output for as long as it lasts."""
    said: set[tuple[str, str, object]] = set()

    def handler(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = str(context.get("message") or "asyncio error")
        key = (message, type(exc).__name__, getattr(exc, "errno", None))
        if key in said:
            return
        said.add(key)
        text = f"{message}: {describe_error(exc)}" if isinstance(exc, BaseException) else message
        report(f"{text} (said once)")

    loop.set_exception_handler(handler)
