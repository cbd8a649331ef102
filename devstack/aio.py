"""Small asyncio helpers shared by the supervisor and the runners."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ("first",)


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
