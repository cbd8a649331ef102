"""The configuration as typed, frozen objects. Built only by ``loader``; read by everything else."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ("Config", "Service", "Settings")


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


@dataclass(frozen=True)
class Config:
    path: Path  # the devstack.toml (or Procfile) it was read from
    services: Mapping[str, Service]
    settings: Settings = field(default_factory=Settings)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return self.root / ".devstack"
