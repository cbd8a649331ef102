"""A barrier through the OS watcher: a private directory, watched along with the stack's roots.

A file written there comes back through the same watcher (one inotify queue, delivered in order) after
every change made before it. So once it is back, every earlier change has been seen: the first time,
it tells that every watch is in place; before a restart, that the burst really is over and not still
on its way through watchfiles' batching.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ("Probe",)

PREFIX = "probe-"


class Probe:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="devstack-watch-"))
        self._prefix = str(self.dir) + os.sep
        self._sent = 0
        self._seen = 0
        self._waiters: dict[int, asyncio.Event] = {}

    def __repr__(self) -> str:
        return f"Probe({str(self.dir)!r}, sent={self._sent}, seen={self._seen})"

    def owns(self, path: str) -> bool:
        return path.startswith(self._prefix)

    def saw(self, path: str) -> None:
        """The watcher reported ``path``, one of ours: release the barriers written up to it."""
        name = os.path.basename(path)
        if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
            return
        self._seen = max(self._seen, int(name[len(PREFIX) :]))
        for n, event in self._waiters.items():
            if n <= self._seen:
                event.set()

    async def barrier(self, within: float) -> bool:
        """Wait until every change made before this call has come through; False after ``within`` seconds."""
        self._sent += 1
        n = self._sent
        event = self._waiters[n] = asyncio.Event()
        path = self.dir / f"{PREFIX}{n}"
        _touch(path)
        try:
            async with asyncio.timeout(within):
                await event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            del self._waiters[n]
            _remove(path)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _touch(path: Path) -> None:
    path.write_bytes(b"")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
