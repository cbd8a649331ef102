"""One file watcher for the whole stack: changes routed to the services that watch them, one restart
per burst, and a guard against services that restart themselves.

One ``watchfiles.awatch`` (one inotify instance, one thread) watches the outermost roots of every
service's ``watch`` entries. Each change goes to the services that watch it and do not ignore it.
A service restarts once its changes have been quiet for ``debounce`` seconds; a change that arrives
while it restarts makes exactly one more restart after this one. Different services restart
independently; a service's own restarts never overlap.

Knowing when watching has begun, and when a burst is over: ``awatch`` sets up its watches only when
first iterated and says nothing when it has, and it hands out changes in batches, some time after they
happened. So the watcher also watches a private directory (``_probe``) and writes a file there as a
barrier: once that file's change is back, every change made before it has been seen. The first
barrier sets ``ready``; another one runs each time a service's quiet window ends, before it restarts,
so that a burst still in watchfiles' hands (a 500-file checkout) cannot split into two restarts.

    watcher = StackWatcher(specs, restart=restart, on_pause=warn)
    task = await watcher.start()  # every watch is in place: start the services
    ...
    task.cancel()
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from watchfiles import Change, awatch

from ._errors import WatchError, translate_os_error
from ._ignore import GitIgnores
from ._paths import Entry, Kind, ServiceIgnore, WatchSpec, outermost
from ._probe import Probe

if TYPE_CHECKING:
    from ..config.model import Config

__all__ = ("PauseCallback", "RestartCallback", "StackWatcher", "Status")

log = logging.getLogger("devstack.watch")

RestartCallback = Callable[[str, list[Path]], Awaitable[None]]
PauseCallback = Callable[[str, list[Path]], None]
Status = Literal["idle", "pending", "restarting", "paused", "unwatched"]

READY_TIMEOUT = 10.0  # give up waiting for the first barrier, warn, and let the stack start anyway
BARRIER_TIMEOUT = 2.0  # plus the poll delay when polling: then restart without the barrier


class _Service:
    """What the watcher knows about one service."""

    def __init__(self, name: str, spec: WatchSpec) -> None:
        self.name = name
        self.spec = spec
        self.entries = [Entry.parse(p) for p in spec.watch]
        self.ignore = ServiceIgnore(spec.cwd, spec.ignore)
        self.pending: dict[Path, set[Change]] = {}
        self.changed = asyncio.Event()
        self.last_change = 0.0
        self.restarting = False
        self.paused = False
        self.history: deque[tuple[float, frozenset[Path]]] = deque()  # recent restarts, for the guard

    def wants(self, change: Change, path: Path, gitignores: GitIgnores) -> bool:
        if not self._matches(path, gitignores):
            return False
        if change is not Change.deleted and os.path.isdir(path):
            # a directory's own change is its mtime (noise) or its creation, which matters when it
            # arrives full (moved in: its files make no changes of their own)
            return change is Change.added and self._holds_wanted(path, gitignores)
        return True

    def _matches(self, path: Path, gitignores: GitIgnores) -> bool:
        for entry in self.entries:
            if not entry.matches(path):
                continue
            if entry.kind is not Kind.FILE and gitignores.ignored(entry.root, path):
                continue  # a file named on purpose is watched even where .gitignore ignores it
            if self.ignore.ignored(path, entry.root):
                continue
            return True
        return False

    def _holds_wanted(self, directory: Path, gitignores: GitIgnores, limit: int = 1000) -> bool:
        seen = 0
        for parent, _, files in os.walk(directory):
            for name in files:
                seen += 1
                if seen > limit or self._matches(Path(parent, name), gitignores):
                    return True
        return False

    def take(self) -> tuple[list[Path], list[Path]]:
        """The pending changes, cleared: (every path, the paths worth naming). Not worth naming: files
        that appeared and went again within the burst (an editor's temporary file), and directories
        whose files are named (a new directory's files may have come too soon to be seen)."""
        changes, self.pending = self.pending, {}
        every = sorted(changes)
        named = [p for p in every if not (Change.added in changes[p] and not os.path.lexists(p))]
        dirs = [p for p in named if os.path.isdir(p)]
        if dirs:
            covered = {d for d in dirs if any(q != d and q.is_relative_to(d) for q in named)}
            named = [p for p in named if p not in covered]
        return every, named or every


class StackWatcher:
    """Watch every service's files with one watcher and restart the services whose files change.

    ``specs`` maps service names to what they watch (services with no ``watch`` entries are left out).
    ``restart(name, paths)`` is awaited for each restart with the changed paths, sorted; it should not
    raise (what it raises is logged). ``on_pause(name, paths)`` is called when a service restarted more
    than ``loop_limit`` times in ``loop_window`` seconds: its watching is paused (until ``resume``), and
    ``paths`` are the ones that kept changing, the most frequent first. ``project_root`` is where the
    .gitignore files start. ``polling`` polls every ``poll_delay`` seconds instead of using inotify.
    """

    def __init__(
        self,
        specs: Mapping[str, WatchSpec],
        *,
        restart: RestartCallback,
        on_pause: PauseCallback,
        debounce: float = 0.1,
        polling: bool = False,
        poll_delay: float = 0.3,
        project_root: Path | None = None,
        loop_limit: int = 10,
        loop_window: float = 10.0,
    ) -> None:
        self._services = {name: _Service(name, spec) for name, spec in specs.items() if spec.watch}
        self.roots = tuple(outermost(e.root for s in self._services.values() for e in s.entries))
        self._restart = restart
        self._on_pause = on_pause
        self.debounce = debounce
        self.polling = polling
        self.poll_delay = poll_delay
        self.loop_limit = loop_limit
        self.loop_window = loop_window
        self._gitignores = GitIgnores(project_root)

    @classmethod
    def from_config(
        cls, config: Config, *, restart: RestartCallback, on_pause: PauseCallback,
        names: Iterable[str] | None = None,
    ) -> StackWatcher:
        """The watcher for ``config``'s services (``names`` only, when given), with its settings."""
        settings = config.settings
        wanted = config.services.keys() if names is None else names
        return cls(
            {name: WatchSpec.from_service(config.services[name]) for name in wanted},
            restart=restart,
            on_pause=on_pause,
            debounce=settings.debounce,
            polling=settings.watch_polling,
            project_root=config.root,
        )

    def __repr__(self) -> str:
        mode = f"polling every {self.poll_delay:g} s" if self.polling else "inotify"
        return f"StackWatcher(services={list(self._services)}, roots={[str(r) for r in self.roots]}, {mode})"

    # -- control ------------------------------------------------------------------------------

    def status(self, name: str) -> Status:
        svc = self._services.get(name)
        if svc is None:
            return "unwatched"
        if svc.paused:
            return "paused"
        if svc.restarting:
            return "restarting"
        return "pending" if svc.pending else "idle"

    def pause(self, name: str) -> None:
        """Drop ``name``'s changes until ``resume`` (say, while the service is stopped by hand)."""
        svc = self._services.get(name)
        if svc is not None:
            svc.paused = True
            svc.pending.clear()

    def resume(self, name: str) -> None:
        svc = self._services.get(name)
        if svc is not None:
            svc.paused = False
            svc.history.clear()

    # -- running ------------------------------------------------------------------------------

    async def start(self) -> asyncio.Task[None]:
        """Run the watcher in a task and return the task once every watch is in place; raise what
        ``run`` raised if it failed before that (``WatchLimitError``, ``WatchError``)."""
        ready = asyncio.Event()
        task = asyncio.create_task(self.run(ready), name="watch")
        readied = asyncio.create_task(ready.wait())
        try:
            await asyncio.wait([task, readied], return_when=asyncio.FIRST_COMPLETED)
        finally:
            readied.cancel()
            if not ready.is_set() and not task.done():  # we were cancelled: take the watcher along
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.done():
            await task  # raises what run raised; returns (after a cancel) otherwise
        return task

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Watch until cancelled. ``ready`` is set once every watch is in place.

        Raises ``WatchLimitError`` when the OS refuses more watches, ``WatchError`` when a root cannot
        be watched. On cancellation, in-flight ``restart`` calls are cancelled too.
        """
        ready = ready if ready is not None else asyncio.Event()
        missing = [r for r in self.roots if not r.is_dir()]
        if missing:  # watchfiles would skip them silently (ignore_permission_denied, below)
            raise WatchError(f"cannot watch {', '.join(map(str, missing))}: no such directory")
        if not self.roots:
            ready.set()
            await asyncio.Event().wait()  # nothing to watch; wait to be cancelled like the rest
        probe = Probe()
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self._serve(svc, probe), name=f"watch {svc.name}")
            for svc in self._services.values()
        ]
        tasks.append(asyncio.create_task(self._ready(probe, ready), name="watch ready"))
        step = min(25, max(5, round(self.debounce * 250)))
        log.debug("watching %s", self)
        try:
            async for batch in awatch(
                *self.roots,
                probe.dir,
                watch_filter=None,  # what is ignored depends on the root a change came through: _route
                debounce=max(step, round(self.debounce * 500)),  # batches keep coming during a storm
                step=step,
                stop_event=stop,
                force_polling=True if self.polling else None,  # None: watchfiles decides (WSL, env)
                poll_delay_ms=round(self.poll_delay * 1000),
                ignore_permission_denied=True,  # an unreadable subdirectory must not stop all watching
            ):
                self._route(batch, probe)
        except OSError as exc:
            raise translate_os_error(exc, self.roots) from exc
        finally:
            stop.set()  # lets watchfiles' thread return within one step
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            probe.close()

    def _route(self, batch: Iterable[tuple[Change, str]], probe: Probe) -> None:
        changes: list[tuple[Change, Path]] = []
        barriers: list[str] = []
        for change, raw in batch:
            if probe.owns(raw):
                barriers.append(raw)
                continue
            path = Path(raw)
            if path.name == ".gitignore":
                self._gitignores.forget()
            changes.append((change, path))
        if changes:
            now = asyncio.get_running_loop().time()
            for svc in self._services.values():
                if svc.paused:
                    continue
                hits = [(c, p) for c, p in changes if svc.wants(c, p, self._gitignores)]
                if not hits:
                    continue
                for change, path in hits:
                    svc.pending.setdefault(path, set()).add(change)
                svc.last_change = now
                svc.changed.set()
                log.debug("%s: %d change(s), e.g. %s", svc.name, len(hits), hits[0][1])
        for raw in barriers:  # after the changes of the same batch are in place
            probe.saw(raw)

    async def _serve(self, svc: _Service, probe: Probe) -> None:
        """Restart ``svc`` once per burst of changes, for as long as the watcher runs."""
        loop = asyncio.get_running_loop()
        barrier_timeout = BARRIER_TIMEOUT + (2 * self.poll_delay if self.polling else 0)
        while True:
            await svc.changed.wait()
            while True:  # until debounce seconds have passed since the last change, and still do
                svc.changed.clear()
                quiet_in = svc.last_change + self.debounce - loop.time()
                if quiet_in > 0:
                    try:
                        async with asyncio.timeout(quiet_in):
                            await svc.changed.wait()
                    except TimeoutError:
                        pass
                    continue
                last = svc.last_change
                if not await probe.barrier(barrier_timeout):
                    log.debug("no barrier within %g s; restarting %s anyway", barrier_timeout, svc.name)
                if svc.last_change == last:
                    break
            svc.changed.clear()
            if svc.paused or not svc.pending:
                continue
            every, named = svc.take()
            if self._looping(svc, every, loop.time()):
                continue
            svc.restarting = True
            try:
                await self._restart(svc.name, named)
            except Exception:
                log.exception("restarting %s after a change failed", svc.name)
            finally:
                svc.restarting = False

    def _looping(self, svc: _Service, paths: list[Path], now: float) -> bool:
        """The loop guard: pause ``svc`` instead of its (loop_limit + 1)th restart in loop_window s."""
        while svc.history and now - svc.history[0][0] > self.loop_window:
            svc.history.popleft()
        if len(svc.history) < self.loop_limit:
            svc.history.append((now, frozenset(paths)))
            return False
        counts = Counter(p for _, seen in svc.history for p in seen)
        counts.update(paths)
        ranked = sorted(counts, key=lambda p: (-counts[p], p))
        repeated = [p for p in ranked if counts[p] > 1] or ranked
        self.pause(svc.name)
        svc.history.clear()
        log.debug("%s keeps restarting itself (%s); watching paused", svc.name, repeated[:3])
        try:
            self._on_pause(svc.name, repeated)
        except Exception:
            log.exception("reporting the pause of %s failed", svc.name)
        return True

    async def _ready(self, probe: Probe, ready: asyncio.Event) -> None:
        """Set ``ready`` once the first barrier is through: every watch is in place."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        interval = self.poll_delay + 0.1 if self.polling else 0.25
        while not await probe.barrier(interval):  # written again, in case the first came too early
            if loop.time() > deadline:
                log.warning("file watching did not confirm it started within %g s", READY_TIMEOUT)
                break
        log.debug("watching %d root(s): %r", len(self.roots), probe)
        ready.set()
