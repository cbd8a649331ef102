"""A harness for the watcher: the real awatch over real files in a temporary project, a recorder for
restarts and pauses, and waits that end on a condition or fail at a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from devstack.watch import StackWatcher, WatchSpec

DEBOUNCE = 0.02  # small, so bursts settle quickly; every test still waits on conditions, not time
DEADLINE = 10.0


class Harness:
    """Records restarts and pauses; ``hooks[name]`` runs inside ``name``'s restart (a service starting)."""

    def __init__(self) -> None:
        self.restarts: list[tuple[str, list[Path]]] = []
        self.pauses: list[tuple[str, list[Path]]] = []
        self.hooks: dict[str, Callable[[int], Awaitable[None]]] = {}
        self.watcher: StackWatcher
        self._seen = asyncio.Condition()

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.restarts if n == name)

    def paths(self, name: str) -> list[list[Path]]:
        return [p for n, p in self.restarts if n == name]

    async def restart(self, name: str, paths: list[Path]) -> None:
        self.restarts.append((name, paths))
        async with self._seen:
            self._seen.notify_all()
        hook = self.hooks.get(name)
        if hook is not None:
            await hook(self.count(name))

    def on_pause(self, name: str, paths: list[Path]) -> None:
        self.pauses.append((name, paths))
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._seen:
            self._seen.notify_all()

    async def until(self, predicate: Callable[[], object], what: str, within: float = DEADLINE) -> None:
        """Wait until ``predicate()`` holds after a restart or pause, or fail after ``within`` s."""
        try:
            async with asyncio.timeout(within), self._seen:
                await self._seen.wait_for(predicate)
        except TimeoutError:
            seen = self.restarts
            raise AssertionError(f"timed out after {within} s waiting for {what}; saw {seen}") from None

    async def restarted(self, name: str, times: int = 1) -> None:
        await self.until(lambda: self.count(name) >= times, f"{name} to restart {times} time(s)")

    async def idle(self, name: str, within: float = DEADLINE) -> None:
        """Wait until ``name`` has no changes pending and is not restarting. The watcher has no event
        for "idle", so this looks every few milliseconds, up to the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.watcher.status(name) not in ("idle", "paused"):
            if loop.time() > deadline:
                raise AssertionError(f"{name} still {self.watcher.status(name)} after {within} s")
            await asyncio.sleep(0.005)

    async def flush(self, sentinel: Path, name: str = "sentinel") -> None:
        """Make sure every change written so far has been routed: write ``sentinel`` (watched by the
        service ``name`` alone) and wait for its restart. One inotify queue delivers changes in order."""
        before = self.count(name)
        write(sentinel, str(before))
        await self.restarted(name, before + 1)


@asynccontextmanager
async def watching(
    specs: Mapping[str, WatchSpec], harness: Harness | None = None, **options: Any
) -> AsyncIterator[Harness]:
    """Run a StackWatcher over ``specs``; yield once every watch is in place; stop it after."""
    h = harness or Harness()
    options.setdefault("debounce", DEBOUNCE)
    h.watcher = StackWatcher(specs, restart=h.restart, on_pause=h.on_pause, **options)
    async with asyncio.timeout(DEADLINE):
        task = await h.watcher.start()
    try:
        yield h
    finally:
        task.cancel()
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def write(path: Path, text: str) -> None:
    path.write_text(text)


def spec(root: Path, service_dir: str, *watch: str, ignore: tuple[str, ...] = ()) -> WatchSpec:
    cwd = root / service_dir
    return WatchSpec(cwd=cwd, watch=tuple(str(root / w) for w in watch) or (str(cwd),), ignore=ignore)


def sentinel(root: Path) -> WatchSpec:
    return spec(root, "sentinel")
