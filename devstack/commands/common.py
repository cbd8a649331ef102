"""Small pieces the commands share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..config import Config, PortSpec
from ..config.discover import shown
from ..errors import DevstackError, UsageError
from ..graph import with_dependencies
from ..wording import closest, quote

if TYPE_CHECKING:
    from ..environment import Ports

__all__ = ("PROFILES_VAR", "active_profiles", "check_names", "known_ports", "port_requests", "selected",
           "shown")

PROFILES_VAR = "DEVSTACK_PROFILES"  # comma-separated, when no --profile is given (COMPOSE_PROFILES)


def check_names(config: Config, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in config.services]
    if unknown:
        known = list(config.services)
        hints = []
        for name in unknown:
            close = closest(name, known)
            hint = " (switched off: enabled = false)" if name in config.disabled else \
                f" (did you mean {quote(close)}?)" if close else ""
            hints.append(quote(name) + hint)
        raise UsageError(f"no such service: {', '.join(hints)}; services in {shown(config.path)}: "
                         f"{', '.join(known)}")
    return names


def active_profiles(config: Config, given: Sequence[str] = ()) -> set[str]:
    """The profiles ``--profile`` names (each may hold several, comma-separated), else those of
    ``DEVSTACK_PROFILES``; ``*`` is every profile. One no service names is a usage error."""
    source = "--profile" if given else PROFILES_VAR
    raw = given if given else [os.environ.get(PROFILES_VAR, "")]
    profiles = {p.strip() for item in raw for p in item.split(",") if p.strip()}
    known = config.profiles
    if "*" in profiles:
        return set(known)
    unknown = sorted(profiles - set(known))
    if unknown:
        listed = f"profiles in {shown(config.path)}: {', '.join(known)}" if known else \
            f"no service in {shown(config.path)} has profiles"
        raise UsageError(f"unknown profile{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(quote, unknown))} ({source}); {listed}")
    return profiles


def selected(config: Config, names: list[str], profiles: Sequence[str] = ()) -> list[str]:
    """What ``devstack up`` starts, in start order: the named services whatever their profiles, or else
    every service without profiles and those with an active one; and everything they depend on."""
    check_names(config, names)
    active = active_profiles(config, profiles)
    if not names:
        names = [n for n, s in config.services.items() if not s.profiles or active & set(s.profiles)]
    return with_dependencies(names, config.services)


def port_requests(config: Config) -> list[tuple[str, PortSpec]]:
    """Every port of every service, running or not, so that peers' URLs are always known and stable."""
    return [(name, spec) for name, svc in config.services.items() for spec in svc.ports]


def known_ports(config: Config, *, assign: bool = False) -> Ports:
    """Every service's ports: the running stack's, else those an earlier ``devstack up`` assigned (kept
    in .devstack/ports.toml). A service that has none yet is an error saying how to get them, or with
    ``assign`` (and no stack running) is given them now, as the first ``devstack up`` would."""
    from ..control.client import NotRunning, request
    from ..ports.store import read_assignments
    from ..state import read_run

    ports = dict(read_assignments(config.root, config.state_dir))
    record = read_run(config.state_dir)
    if record is not None and record.alive:
        try:
            live = request(config.state_dir, "GET", "/status")["services"]
        except NotRunning:
            live = []
        ports.update({s["name"]: s["ports"] for s in live if s["ports"]})
    missing = [n for n, s in config.services.items() if s.ports and n not in ports]
    if missing and assign and (record is None or not record.alive):
        from ..ports import allocate, release_project

        try:  # persisted for the stack's first run; leased only for this moment
            return allocate(config.root, port_requests(config), config.settings.port_range).ports
        finally:
            release_project(config.root)
    if missing:
        raise DevstackError(f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no port yet: "
                            "run devstack up once to assign ports")
    return ports
