"""The per-user lease registry: which ports running stacks hold, so two ``devstack up`` started at the
same moment in two projects never hand out the same port.

Probing alone cannot promise that: between the probe and the service's bind there are seconds (a
dependency is still starting), and another project probing in that window sees the port free. So every
allocation happens under ``flock`` on ``leases.lock`` and records what it took in ``leases.toml``, both in
``$XDG_STATE_HOME/devstack/`` (default ``~/.local/state/devstack/``)::

    ["/home/me/shop"]
    pid = 4242                  # the owner: the supervisor that allocated
    started = 1717171717.25     # its start time, so a reused pid is never taken for it

    ["/home/me/shop".ports]     # port = "service.key"
    21432 = "api.port"
    21433 = "api.admin"

One line per port, keyed by the port: tomllib spends most of its time on tables, and a registry of a few
hundred ports must still read in a millisecond or two.

A lease whose owner is gone (dead, or its pid reused by another process) is reclaimed by the next
allocation. A released or reclaimed project keeps its entry with ``pid = 0``: its ports are then only
*remembered*, and new assignments elsewhere steer around them while the pool has room, so projects that
take turns keep their ports too. Entries of projects whose directory no longer exists are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import tomli_w

from ..files import StateError, private_dir, read_private, write_private
from ..state import process_matches
from ._lock import locked

__all__ = ("Lease", "ProjectEntry", "Registry", "open_registry", "registry_dir")

log = logging.getLogger("devstack.ports.leases")

LEASES_FILE = "leases.toml"
LOCK_FILE = "leases.lock"


def registry_dir() -> Path:
    """``$XDG_STATE_HOME/devstack``; the XDG spec says a relative value is to be ignored."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "devstack"


class Lease(NamedTuple):
    """Who holds a port: enough to tell the user which stack to stop."""

    project: str
    service: str
    key: str
    pid: int

    def __str__(self) -> str:
        return f"{self.service} ({self.key}) of the devstack in {self.project}, pid {self.pid}"


@dataclass
class ProjectEntry:
    pid: int  # 0: not running; the ports are remembered, not held
    started: float
    ports: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return self.pid != 0


@dataclass
class Registry:
    """The registry as read under the lock; changes are written back when the lock is released."""

    entries: dict[str, ProjectEntry]
    dirty: bool = False

    def reclaim_stale(self) -> list[str]:
        """Turn leases whose owner is gone into remembered ports; drop projects that no longer exist."""
        reclaimed = []
        for project, entry in list(self.entries.items()):
            if not os.path.isdir(project):
                del self.entries[project]
                self.dirty = True
            elif entry.held and not process_matches(entry.pid, entry.started):
                log.info("reclaiming the ports of %s: its devstack (pid %d) is gone", project, entry.pid)
                entry.pid, entry.started = 0, 0.0
                reclaimed.append(project)
                self.dirty = True
        return reclaimed

    def held_by_others(self, project: str, pid: int, started: float) -> dict[int, Lease]:
        """Every port leased by a live owner other than (``pid``, ``started``) or to another project."""
        out: dict[int, Lease] = {}
        for name, entry in self.entries.items():
            if not entry.held or (name == project and (entry.pid, entry.started) == (pid, started)):
                continue
            for service, ports in entry.ports.items():
                for key, port in ports.items():
                    out[port] = Lease(name, service, key, entry.pid)
        return out

    def remembered_by_others(self, project: str) -> set[int]:
        return {port for name, entry in self.entries.items() if name != project and not entry.held
                for ports in entry.ports.values() for port in ports.values()}

    def lease(self, project: str, pid: int, started: float, ports: Mapping[str, Mapping[str, int]]) -> None:
        self.entries[project] = ProjectEntry(pid, started, {s: dict(p) for s, p in ports.items()})
        self.dirty = True

    def release(self, project: str, pid: int, started: float) -> bool:
        """Keep the project's ports as remembered ones; False if another live process holds them."""
        entry = self.entries.get(project)
        if entry is None or not entry.held:
            return False
        if (entry.pid, entry.started) != (pid, started) and process_matches(entry.pid, entry.started):
            return False
        entry.pid, entry.started = 0, 0.0
        self.dirty = True
        return True


def _parse(text: str) -> dict[str, ProjectEntry]:
    entries: dict[str, ProjectEntry] = {}
    for project, raw in tomllib.loads(text).items():
        try:
            ports: dict[str, dict[str, int]] = {}
            for port, owner in raw["ports"].items():
                service, key = owner.rsplit(".", 1)  # port keys have no dots; service names may
                ports.setdefault(service, {})[key] = int(port)
            entries[project] = ProjectEntry(int(raw["pid"]), float(raw["started"]), ports)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("ignoring a malformed entry for %s in the lease registry", project)
    return entries


def _render(entries: Mapping[str, ProjectEntry]) -> str:
    return tomli_w.dumps({
        project: {"pid": e.pid, "started": e.started,
                  "ports": {str(port): f"{service}.{key}" for service, keys in e.ports.items()
                            for key, port in keys.items()}}
        for project, e in sorted(entries.items())})


@contextlib.contextmanager
def open_registry(directory: Path | None = None) -> Iterator[Registry]:
    """The registry, locked against every other devstack of this user until the block ends; written
    back (atomically, 0600) if it changed and the block did not raise."""
    directory = directory or registry_dir()
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_dir(directory)  # the user's own: never a link, never another user's
    path = directory / LEASES_FILE
    with locked(directory / LOCK_FILE):
        try:
            entries = _parse(read_private(path) or "")
        except (StateError, OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            # the registry is a safety net between projects: a damaged one is rebuilt, not a reason to stop
            log.warning("the lease registry %s is unreadable (%s); starting a new one", path, e)
            entries = {}
        registry = Registry(entries)
        yield registry
        if registry.dirty:
            write_private(path, _render(registry.entries))
