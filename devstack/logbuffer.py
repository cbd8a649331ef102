"""Recent output of each service, in memory, for ``devstack logs``: a ring per service bounded in
characters (so memory stays flat whatever a service prints), and the followers of ``logs -f``.

Output is kept in the blocks it arrived in (one or more lines each), so the cost on the output path
is one append per chunk, not per line; queries split blocks into lines. Older lines than the ring
holds are read back from ``.devstack/logs/NAME.log``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable

__all__ = ("LogBuffer", "LogLine")

RING_CHARS = 512 * 1024  # per service
FOLLOW_QUEUE = 4096  # blocks a follower may fall behind before it is let go

LogLine = tuple[float, str, str]  # time, service, text


class LogBuffer:
    def __init__(self, ring_chars: int = RING_CHARS) -> None:
        self.ring_chars = ring_chars
        self._rings: dict[str, collections.deque[LogLine]] = collections.defaultdict(collections.deque)
        self._sizes: dict[str, int] = collections.defaultdict(int)
        self._followers: dict[asyncio.Queue[LogLine | None], frozenset[str] | None] = {}

    def add(self, service: str, text: str) -> None:
        """``text``: one or more lines, without the final newline."""
        entry = (time.time(), service, text)
        ring = self._rings[service]
        ring.append(entry)
        self._sizes[service] += len(text)
        while self._sizes[service] > self.ring_chars and len(ring) > 1:
            self._sizes[service] -= len(ring.popleft()[2])
        for queue, names in list(self._followers.items()):
            if names is None or service in names:
                try:
                    queue.put_nowait(entry)
                except asyncio.QueueFull:  # it does not keep up: end its stream rather than grow
                    del self._followers[queue]
                    queue.get_nowait()
                    queue.put_nowait(None)

    def recent(self, names: Iterable[str] | None = None) -> list[LogLine]:
        """Every line held for ``names`` (all services when None), oldest first."""
        wanted = set(names) if names else set(self._rings)
        blocks = sorted((e for n in wanted for e in self._rings.get(n, ())), key=lambda e: e[0])
        return [(t, s, line) for t, s, text in blocks for line in text.split("\n")]

    def follow(self, names: Iterable[str] | None) -> asyncio.Queue[LogLine | None]:
        """A queue of new blocks; None in it means the follower was dropped for falling behind."""
        queue: asyncio.Queue[LogLine | None] = asyncio.Queue(FOLLOW_QUEUE)
        self._followers[queue] = frozenset(names) if names else None
        return queue

    def unfollow(self, queue: asyncio.Queue[LogLine | None]) -> None:
        self._followers.pop(queue, None)
