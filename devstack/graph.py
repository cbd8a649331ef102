"""The dependency graph of a stack's services: what is wrong with it, start order, stop order.

An edge ``a -> b`` means ``a`` depends on ``b``: ``b`` starts first and stops last. Services with no
path between them may start and stop in parallel. With ``svc(name, *deps)`` building a ``Service``::

    >>> services = {"api": svc("api", "db"), "web": svc("web", "api"), "db": svc("db"),
    ...             "mail": svc("mail")}
    >>> with_dependencies(["web"], services)
    ['db', 'api', 'web']
    >>> stop_waves(["web", "api", "db", "mail"], services)
    [['mail', 'web'], ['api'], ['db']]

``problems`` must be empty before the other functions are used: they assume every dependency exists and
there is no cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .config.model import Service
from .errors import UsageError
from .wording import did_you_mean, quote

__all__ = (
    "dependents",
    "problems",
    "start_order",
    "stop_before",
    "stop_waves",
    "unknown_dependency",
    "with_dependencies",
)

Services = Mapping[str, Service]


def unknown_dependency(name: str, known: Iterable[str]) -> str:
    """The problem of depending on ``name``, which is not one of ``known``."""
    return f"depends on {quote(name)}, which is not a service{did_you_mean(name, sorted(known))}"


def problems(services: Services, declared: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Every problem of the graph as ``(service, message)``: dependencies on unknown services (with a
    suggestion) and cycles (``dependency cycle: a -> b -> c -> a``, one per group of services caught
    in cycles, reported on the first of them by name). ``declared``: services that exist but are not in
    ``services`` (invalid ones, whose problems are told already): depending on them is no problem, and a
    cycle through them cannot be seen until they are valid."""
    known = set(declared) | set(services)
    found: list[tuple[str, str]] = []
    for name, svc in services.items():
        for dep in svc.depends_on:
            if dep.name not in known:
                found.append((name, unknown_dependency(dep.name, known)))
    for cycle in _cycles(services):
        found.append((cycle[0], f"dependency cycle: {' -> '.join(cycle)}"))
    return found


def _edges(services: Services, name: str) -> list[str]:
    return [d.name for d in services[name].depends_on if d.name in services]


def _cycles(services: Services) -> list[list[str]]:
    """One cycle (first node repeated at the end) per strongly connected component that has one."""
    cycles = []
    for component in _components(services):
        start = min(component)
        if len(component) == 1 and start not in _edges(services, start):
            continue
        cycles.append(_shortest_cycle(services, start, component))
    return sorted(cycles)


def _components(services: Services) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative: deep stacks must not recurse)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(services):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            edges = _edges(services, node)
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _shortest_cycle(services: Services, start: str, within: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself inside one component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in _edges(services, node):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt in within and nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")


def _check_names(names: Iterable[str], services: Services) -> list[str]:
    names = list(names)
    for name in names:
        if name not in services:
            raise UsageError(f"no service named {quote(name)}{did_you_mean(name, services)}")
    return names


def with_dependencies(names: Iterable[str], services: Services) -> list[str]:
    """``names`` and everything they depend on, transitively, in start order: each service after all
    its dependencies (otherwise in the order asked for, then declared). Raises ``UsageError`` for a
    name that is not a service."""
    order: list[str] = []
    placed: set[str] = set()
    for root in _check_names(names, services):
        if root in placed:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        entered = {root}
        while work:
            node, i = work.pop()
            edges = _edges(services, node)
            if i < len(edges):
                work.append((node, i + 1))
                nxt = edges[i]
                if nxt in entered and nxt not in placed:
                    raise ValueError(f"dependency cycle through {nxt!r}: check problems() first")
                if nxt not in placed:
                    entered.add(nxt)
                    work.append((nxt, 0))
                continue
            if node not in placed:
                placed.add(node)
                order.append(node)
    return order


def start_order(services: Services) -> list[str]:
    """Every service, dependencies first."""
    return with_dependencies(services, services)


def dependents(names: Iterable[str], services: Services) -> list[str]:
    """The services that depend on any of ``names``, directly or not (``names`` excluded), in start
    order: what ``restart_dependents`` restarts."""
    wanted = set(_check_names(names, services))
    found: set[str] = set()
    for name in start_order(services):
        if any(dep in wanted or dep in found for dep in _edges(services, name)):
            found.add(name)
    return [name for name in start_order(services) if name in found and name not in wanted]


def stop_before(names: Iterable[str], services: Services) -> dict[str, set[str]]:
    """For each of ``names``, which of ``names`` must have stopped before it stops: the ones depending
    on it, directly or through services not being stopped. A service waits only for those; the rest
    stop in parallel."""
    chosen = _check_names(names, services)
    selected = set(chosen)
    waits: dict[str, set[str]] = {name: set() for name in chosen}
    for name in chosen:
        # walk down from ``name``: the selected services it reaches must wait for it
        seen: set[str] = set()
        todo = list(_edges(services, name))
        while todo:
            dep = todo.pop()
            if dep in seen:
                continue
            seen.add(dep)
            if dep in selected:
                waits[dep].add(name)
            else:
                todo.extend(_edges(services, dep))
    return waits


def stop_waves(names: Iterable[str], services: Services) -> list[list[str]]:
    """``names`` in waves to stop one after another, each wave in parallel: a service is in the wave
    after the last of its dependents. Names in a wave are sorted."""
    waits = stop_before(names, services)
    wave_of: dict[str, int] = {}
    for name in reversed(with_dependencies(waits, services)):  # dependents first
        if name in waits:
            wave_of[name] = max((wave_of[w] + 1 for w in waits[name]), default=0)
    waves: list[list[str]] = [[] for _ in range(max(wave_of.values(), default=-1) + 1)]
    for name, wave in wave_of.items():
        waves[wave].append(name)
    return [sorted(wave) for wave in waves]
