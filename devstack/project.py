"""A project: the config file a command was pointed at, the state directory beside it, and the config
itself, read and checked only when a command first needs it. ``devstack status`` and ``ports`` on a
running stack ask its control socket and never read the config: they start faster, and they keep
working while the file is being edited into something invalid."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from .config import Config, load_config
from .config.discover import Located

__all__ = ("Project",)


class Project(Located):
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r})"

    @cached_property
    def config(self) -> Config:
        """The config, read and checked on first use (``ConfigError`` when it is invalid)."""
        return load_config(self.path)
