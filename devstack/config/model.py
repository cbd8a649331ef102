"""The configuration as typed, frozen objects. Built only by ``loader``; read by everything else."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .discover import Located

__all__ = ("Config", "Dependency", "HealthCheck", "PortSpec", "Service", "Settings")

Condition = Literal["started", "healthy", "completed_successfully"]
HealthKind = Literal["http", "tcp", "cmd", "port", "started"]
RestartPolicy = Literal["no", "on-failure", "always"]
ReloadMode = Literal["restart", "overlap"]


@dataclass(frozen=True)
class PortSpec:
    """One port of a service: the main one (``name == ""``, handed over as ``PORT``) or a named one
    (``ports = ["admin"]``, handed over as ``NAME_ADMIN_PORT``). ``pinned`` is a fixed port number."""

    name: str = ""
    pinned: int | None = None

    @property
    def key(self) -> str:
        return self.name or "port"


@dataclass(frozen=True)
class HealthCheck:
    """How readiness is known. ``kind``: ``http`` (GET ``target``, 200-399), ``tcp`` (a connection is
    accepted), ``cmd`` (``target`` exits 0), ``port`` (no health section, but a port: ready when it
    accepts a connection), ``started`` (no port, no check: ready once started). ``port`` names which of
    the service's ports is probed ("" = the main one). Durations in seconds, docker compose's names."""

    kind: HealthKind = "started"
    target: str = ""
    port: str = ""
    interval: float = 2.0
    timeout: float = 2.0
    retries: int = 3
    start_period: float = 60.0
    start_interval: float = 0.1


@dataclass(frozen=True)
class Dependency:
    name: str
    condition: Condition = "started"


@dataclass(frozen=True)
class Service:
    name: str
    cmd: str | tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    env_files: tuple[Path, ...] = ()
    file_env: Mapping[str, str] = field(default_factory=dict)  # what env_files hold, read at load
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 5.0
    ports: tuple[PortSpec, ...] = (PortSpec(),)  # the main port first, when the service has one
    scheme: str = "http"
    image: str | None = None  # the container image, for devstack export (compose, kubernetes)
    socket: bool = False  # devstack listens on the main port and hands the socket over (fd 3)
    health: HealthCheck = HealthCheck()
    depends_on: tuple[Dependency, ...] = ()
    watch: tuple[str, ...] = ()  # absolute paths, or absolute glob patterns ("/p/api/**/*.py")
    ignore: tuple[str, ...] = ()  # gitignore-style patterns
    restart_dependents: bool = False
    reload: ReloadMode = "restart"  # "overlap": the new instance starts while the old one serves
    restart: RestartPolicy = "on-failure"  # "no" for one-shot tasks (see loader)
    max_restarts: int | None = None  # None: unlimited
    profiles: tuple[str, ...] = ()  # started only when one is active; () always
    interactive: bool = False  # runs on a pty of its own, for devstack attach

    @property
    def argv(self) -> list[str]:
        """A string runs through ``sh -c`` (so ``a && b`` works, and signals reach the whole process
        group); an array runs as it is."""
        if isinstance(self.cmd, str):
            return ["/bin/sh", "-c", self.cmd]
        return list(self.cmd)

    @property
    def display_cmd(self) -> str:
        return self.cmd if isinstance(self.cmd, str) else shlex.join(self.cmd)


@dataclass(frozen=True)
class Settings:
    """The ``[devstack]`` table: settings of the whole stack."""

    port_range: tuple[int, int] = (20000, 29999)
    debounce: float = 0.1
    watch_polling: bool = False
    restart_backoff: float = 0.5  # the first crash restart's delay; it doubles each time...
    restart_backoff_max: float = 30.0  # ...up to this
    restart_reset: float = 30.0  # an instance up this long resets the delay


@dataclass(frozen=True)
class Config(Located):
    path: Path  # the devstack.toml (or Procfile) it was read from
    services: Mapping[str, Service]
    settings: Settings = field(default_factory=Settings)
    overrides: tuple[Path, ...] = ()  # devstack.local.toml, when it was merged over path
    disabled: tuple[str, ...] = ()  # services left out with enabled = false

    @property
    def profiles(self) -> list[str]:
        """Every profile a service names, sorted."""
        return sorted({p for s in self.services.values() for p in s.profiles})
