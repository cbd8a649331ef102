"""Give every requested port a number: pinned ones as configured, the rest stable from run to run and
never shared with another running project.

In order, under the lease registry's lock:

1. pinned ports must be free (else ``PortError`` naming who holds them, before anything starts);
2. each port persisted in ``.devstack/ports.toml`` is kept while it lies in the pool and is free, else it
   is moved with a warning naming whoever took it;
3. new ports take the next free port from the project's preferred block, steering around ports held by
   running projects and, while there is room, ports other projects used last.

Keeping (2) before (3) is what makes adding, removing or renaming a service leave the others alone.

    >>> alloc = allocate(Path("."), [("api", PortSpec()), ("api", PortSpec("admin"))])  # doctest: +SKIP
    >>> alloc.ports  # doctest: +SKIP
    {'api': {'port': 21432, 'admin': 21433}}
    >>> release_project(Path("."))  # at shutdown  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config.model import PortSpec
from ..errors import PortError
from ..state import process_stamp
from .leases import Lease, open_registry
from .pool import DEFAULT_RANGE, check_range, preferred_order
from .probe import holder, is_free
from .store import Assignments, load_assignments, write_assignments

__all__ = ("Allocation", "allocate", "release_project")

log = logging.getLogger("devstack.ports.allocation")


@dataclass(frozen=True)
class Allocation:
    """The ports of one project, leased to this process until ``release_project``.

    ``ports``: service -> port key (``port`` for the main one, else its name) -> port number.
    ``warnings``: what the user should hear about (a port moved, and why); the caller prints them."""

    project: Path
    ports: Assignments
    warnings: list[str] = field(default_factory=list)

    def port(self, service: str, key: str = "port") -> int:
        return self.ports[service][key]


def _label(service: str, key: str) -> str:
    return service if key == "port" else f"{service} ({key})"


def _who(port: int) -> str:
    found = holder(port)
    if found is not None:
        return str(found)
    how = f"ss -ltnp 'sport = :{port}'" if sys.platform.startswith("linux") else f"lsof -iTCP:{port}"
    privileged = " (or it needs privileges: ports below 1024 usually do)" if port < 1024 else ""
    return f"a process devstack cannot see{privileged} (try: {how})"


def _owner() -> tuple[int, float]:
    return os.getpid(), process_stamp(os.getpid())  # no wall clock: a step of it must not free a lease


def _key(root: Path, config: Path | None) -> tuple[str, Path | None]:
    """The lease registry's name for a config's stack, and its state directory: the project's path for
    its devstack.toml, the config file's path for another config (``-f other.toml``) of the folder."""
    if config is None:
        return str(root), None
    from ..config.discover import state_dir_of

    state = state_dir_of(config)
    return (str(root) if state == config.parent / ".devstack" else str(config.resolve())), state


def allocate(project_root: Path, requests: Sequence[tuple[str, PortSpec]],
             port_range: tuple[int, int] = DEFAULT_RANGE, *, config: Path | None = None) -> Allocation:
    """Assign a port to every (service, spec) in ``requests``, lease them to the current process and
    persist them. ``requests`` is the whole stack: persisted services missing from it are forgotten.

    Raises ``PortError`` for a bad ``port_range``, a busy or doubly pinned port, a project whose ports
    another live devstack holds, or an exhausted pool. ``config``: the config file, when it may be
    one of several in the folder (each has ports of its own)."""
    root = project_root.resolve()
    project, state_dir = _key(root, config)
    lo, hi = port_range
    problem = check_range(lo, hi)
    if problem:
        raise PortError(problem)
    wanted = _validate(requests)
    persisted, warnings = load_assignments(root, state_dir)
    pid, started = _owner()

    with open_registry() as registry:
        registry.reclaim_stale()
        entry = registry.entries.get(project)
        if entry is not None and entry.held and (entry.pid, entry.started) != (pid, started):
            raise PortError(f"the ports of {project} are held by another devstack (pid {entry.pid}): "
                            "stop it first (devstack down), or use its ports (devstack ports)")
        held = registry.held_by_others(project, pid, started)
        # allocating again while our own stack runs (a config reload): a port this process already leases
        # to the same service is busy because that service is listening on it, as it should
        ours = entry.ports if entry is not None and entry.held else {}
        chosen: dict[tuple[str, str], int] = {}
        used: set[int] = set()

        for (service, key), spec in wanted.items():
            if spec.pinned is not None:
                port = spec.pinned
                if port in held:
                    raise PortError(f"port {port} of {_label(service, key)} is leased to {held[port]}: "
                                    "stop that stack, or remove the pin to let devstack choose a port")
                if ours.get(service, {}).get(key) != port and not is_free(port, lingering_ok=True):
                    raise PortError(f"port {port} of {_label(service, key)} is in use by {_who(port)}: "
                                    "stop it, or remove the pin to let devstack choose a port")
                chosen[service, key] = port
                used.add(port)

        pending: list[tuple[str, str, str]] = []  # service, key, why its old port went (or "")
        for service, key in wanted:
            if (service, key) in chosen:
                continue
            old = persisted.get(service, {}).get(key)
            leased = old is not None and ours.get(service, {}).get(key) == old
            reason = _unusable(old, lo, hi, used, held, probe=not leased)
            if old is not None and reason == "":
                chosen[service, key] = old
                used.add(old)
            else:
                pending.append((service, key, reason))

        fresh = _Candidates(root, lo, hi, used | held.keys(), registry.remembered_by_others(project))
        for service, key, reason in pending:
            new = fresh.take()
            if new is None:
                raise PortError(f"no free port left in port_range {lo}-{hi} for {_label(service, key)}: "
                                "widen [devstack] port_range, or stop other stacks")
            chosen[service, key] = new
            if reason:
                warnings.append(f"{_label(service, key)}: {reason}; it now gets port {new}")

        ports: Assignments = {}
        for (service, key), port in chosen.items():
            ports.setdefault(service, {})[key] = port
        ports = {service: ports[service] for service, _ in wanted if service in ports}  # config order
        registry.lease(project, pid, started, ports)
        if ports != persisted:
            write_assignments(root, ports, state_dir)

    for warning in warnings:
        log.debug("%s", warning)
    return Allocation(project=root, ports=ports, warnings=warnings)


def _validate(requests: Sequence[tuple[str, PortSpec]]) -> dict[tuple[str, str], PortSpec]:
    wanted: dict[tuple[str, str], PortSpec] = {}
    pins: dict[int, tuple[str, str]] = {}
    for service, spec in requests:
        if (service, spec.key) in wanted:
            raise ValueError(f"port {spec.key!r} of {service!r} is requested twice")
        wanted[service, spec.key] = spec
        if spec.pinned is not None:
            if spec.pinned in pins:
                other = _label(*pins[spec.pinned])
                raise PortError(f"port {spec.pinned} is pinned by both {other} and "
                                f"{_label(service, spec.key)}: pin one of them elsewhere")
            pins[spec.pinned] = (service, spec.key)
    return wanted


def _unusable(port: int | None, lo: int, hi: int, used: set[int], held: dict[int, Lease], *,
              probe: bool = True) -> str:
    """Why a persisted port cannot be kept ("" if it can, or if there was none)."""
    if port is None:
        return ""
    if not lo <= port <= hi:
        return f"port {port} of the last run lies outside port_range {lo}-{hi}"
    if port in used:
        return f"port {port} of the last run is pinned by another service"
    if port in held:
        return f"port {port} of the last run is now held by {held[port]}"
    if probe and not is_free(port, lingering_ok=True):
        return f"port {port} of the last run is now in use by {_who(port)}"
    return ""


class _Candidates:
    """New ports in the project's preferred order: first those nobody else used lately, then (if the pool
    runs dry) ports other projects only remember."""

    def __init__(self, root: Path, lo: int, hi: int, taken: set[int], remembered: set[int]) -> None:
        self._order: Iterator[int] = preferred_order(root, lo, hi)
        self._taken = taken
        self._remembered = remembered
        self._spare: list[int] = []

    def take(self) -> int | None:
        for port in self._order:
            if port in self._taken:
                continue
            if port in self._remembered:
                self._spare.append(port)
                continue
            if is_free(port):
                self._taken.add(port)
                return port
        while self._spare:
            port = self._spare.pop(0)
            if is_free(port):
                self._taken.add(port)
                log.info("port pool is short: reusing port %d that another project used last", port)
                return port
        return None


def release_project(project_root: Path, config: Path | None = None) -> bool:
    """Give back the project's leases (at shutdown). Its ports stay remembered, so other projects keep
    clear of them while they can. False if the project held none, or another live devstack holds them."""
    pid, started = _owner()
    project, _ = _key(project_root.resolve(), config)
    with open_registry() as registry:
        return registry.release(project, pid, started)
