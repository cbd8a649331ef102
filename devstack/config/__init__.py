"""devstack.toml: where it is found, how it is read and checked, and what it becomes.

The loader (tomllib, the validators) is imported when a config is first read, not with the package: a
command that only talks to a running stack never needs it."""

from __future__ import annotations

from pathlib import Path

from .discover import CONFIG_NAME, find_config
from .model import Config, Dependency, HealthCheck, PortSpec, Service, Settings

__all__ = (
    "CONFIG_NAME",
    "Config",
    "Dependency",
    "HealthCheck",
    "PortSpec",
    "Service",
    "Settings",
    "find_config",
    "load_config",
)


def load_config(path: Path) -> Config:
    """Read and check ``path`` (devstack.toml or a Procfile): every problem at once, as ``ConfigError``."""
    from .loader import load_config as load

    return load(path)
