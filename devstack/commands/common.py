"""Small pieces the commands share."""

from __future__ import annotations

import difflib

from ..config import Config, PortSpec
from ..config.discover import shown
from ..errors import UsageError
from ..graph import with_dependencies

__all__ = ("check_names", "port_requests", "selected", "shown")


def check_names(config: Config, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in config.services]
    if unknown:
        known = list(config.services)
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f' (did you mean "{close[0]}"?)' if close else ""))
        raise UsageError(f"no such service: {', '.join(hints)}; services in {shown(config.path)}: "
                         f"{', '.join(known)}")
    return names


def selected(config: Config, names: list[str]) -> list[str]:
    """The named services (all when none are named) and everything they depend on, in start order."""
    check_names(config, names)
    return with_dependencies(names or list(config.services), config.services)


def port_requests(config: Config) -> list[tuple[str, PortSpec]]:
    """Every port of every service, running or not, so that peers' URLs are always known and stable."""
    return [(name, spec) for name, svc in config.services.items() for spec in svc.ports]
