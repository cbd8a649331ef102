"""Which processes belong to which service: by cgroup where one can be made, else by process tree.

``start_tracking(token)`` picks the mode once per run and says why when it falls back:

- ``cgroup``: each service instance runs in a cgroup of its own (``cgroup``), so its processes are
  exactly those of the cgroup, whatever they do (daemonize, ``setsid``, rewrite their environment);
  stopping ends with ``cgroup.kill``.
- ``tree``: devstack is a child subreaper, so every process that leaves a service's tree is re-parented
  to devstack; a ``tree.TreeTracker`` attributes each descendant to a service by its process group, its
  parent (remembered from when it was first seen), the environment markers, or the time it appeared.

``DEVSTACK_TRACKING=tree`` (or ``cgroup``) forces a mode; the default, ``auto``, takes a cgroup where
one can be made. A ``Slot`` is one service instance's share: a ``preexec_fn`` that places its first
process, then its members, whether any lives, and signalling them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cgroup
from .tree import DECIDE, FRESH, TreeTracker, signal_groups

__all__ = ("TRACKING_VAR", "CgroupSlot", "Slot", "Tracking", "start_tracking")

log = logging.getLogger("devstack.tracking")

TRACKING_VAR = "DEVSTACK_TRACKING"
MODES = ("auto", "cgroup", "tree")


class Slot:
    """One service instance's processes (``bind`` once its first process runs)."""

    pid = 0

    def preexec(self) -> Callable[[], None] | None:
        return None

    def bind(self, pid: int) -> None:
        self.pid = pid

    def pids(self, fresh: bool = False) -> list[int]:
        """Its live processes; ``fresh``: looked up now (else a look a few ms old may serve)."""
        raise NotImplementedError

    def alive(self) -> bool:
        return bool(self.pids())

    def signal(self, sig: int) -> None:
        """``sig`` to the first process's group and to every member outside it, once each."""
        signal_groups(self.pids(), sig, {self.pid} if self.pid else set())

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def ended(self) -> None:
        """Its first process has exited."""

    async def settle(self) -> None:
        """Wait until what its first process left behind is attributed (a moment, without cgroups)."""

    def close(self) -> None:
        """The instance is over (its processes are gone)."""


class CgroupSlot(Slot):
    def __init__(self, path: Path) -> None:
        self.path = path

    def preexec(self) -> Callable[[], None] | None:
        return cgroup.enter_preexec(self.path)

    def pids(self, fresh: bool = False) -> list[int]:
        return cgroup.members(self.path)

    def alive(self) -> bool:
        return cgroup.populated(self.path)

    def kill(self) -> None:
        cgroup.kill(self.path)

    def close(self) -> None:
        cgroup.remove(self.path)


class TreeSlot(Slot):
    def __init__(self, tracker: TreeTracker, key: str) -> None:
        self.tracker = tracker
        self.key = key

    def bind(self, pid: int) -> None:
        self.pid = pid
        self.tracker.bind(self.key, pid)

    def pids(self, fresh: bool = False) -> list[int]:
        return self.tracker.members(self.key, 0.0 if fresh else FRESH)

    def ended(self) -> None:
        self.tracker.ended(self.key)

    async def settle(self) -> None:
        for _ in range(10):
            if not self.tracker.undecided():
                return
            await asyncio.sleep(DECIDE / 2)
            self.tracker.refresh()

    def close(self) -> None:
        self.tracker.forget(self.key)


@dataclass
class Tracking:
    """The run's tracking: ``kind`` ("cgroup" or "tree"), ``detail`` (the cgroup, or why not)."""

    kind: str
    detail: str
    token: str
    run_cgroup: Path | None = None
    tree: TreeTracker | None = None
    _seq: int = 0

    def slot(self, service: str, instance: str | None = None) -> Slot:
        self._seq += 1
        key = f"{service}/{instance or ''}/{self._seq}"
        if self.run_cgroup is not None:
            path = self.run_cgroup / service / f"i{self._seq}"
            try:
                path.mkdir(parents=True, exist_ok=True)
                return CgroupSlot(path)
            except OSError as exc:  # odd, but no reason not to run: the tree still finds it
                log.warning("cannot create the cgroup %s (%s); tracking %s by its tree", path, exc, service)
        assert self.tree is not None
        return TreeSlot(self.tree, key)

    def pids(self) -> list[int]:
        """Every live process of the run that devstack can attribute to it."""
        if self.run_cgroup is not None:
            return sorted(set(cgroup.members(self.run_cgroup)) | set(self._tree().members(None)))
        return self._tree().members(None)

    def unattributed(self) -> list[int]:
        """Processes of the run that no service claims (yet): without cgroups, a daemon re-parented
        to devstack before it was seen with its parent, while it is being told apart."""
        if self.run_cgroup is not None:
            return []
        return self._tree().members_unattributed()

    def _tree(self) -> TreeTracker:
        assert self.tree is not None
        return self.tree

    def kill_all(self) -> None:
        if self.run_cgroup is not None:
            cgroup.kill(self.run_cgroup)
        for pid in self._tree().members(None):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue

    def close(self) -> bool:
        """Remove the run's cgroup; False if a process still lives in it."""
        if self.run_cgroup is not None:
            return cgroup.clear(self.run_cgroup)
        return True

    def describe(self) -> str:
        return f"{self.kind} ({self.detail})"


def start_tracking(token: str) -> Tracking:
    """Pick the run's tracking (see the module's doc)."""
    tree = TreeTracker(token)
    wanted = os.environ.get(TRACKING_VAR, "auto").strip().lower() or "auto"
    if wanted not in MODES:
        log.warning("%s=%s is not one of %s; using auto", TRACKING_VAR, wanted, ", ".join(MODES))
        wanted = "auto"
    if wanted == "tree":
        return Tracking("tree", f"forced by {TRACKING_VAR}=tree", token, tree=tree)
    try:
        path = cgroup.make_run_cgroup(token)
    except cgroup.Unavailable as exc:
        return Tracking("tree", f"no cgroup: {exc}", token, tree=tree)
    return Tracking("cgroup", str(path), token, run_cgroup=path, tree=tree)
