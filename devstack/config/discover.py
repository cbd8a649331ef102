"""Where a project's config is: the nearest devstack.toml upward (as git finds its repository), or a
Procfile. Kept apart from the loader so that commands which only need the path (the control socket is
beside it) start without importing tomllib and the validators."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, Problem

__all__ = ("CONFIG_NAME", "PROCFILE_NAME", "STATE_DIR_NAME", "Located", "find_config", "shown",
           "state_dir_of")

CONFIG_NAME = "devstack.toml"
PROCFILE_NAME = "Procfile"
STATE_DIR_NAME = ".devstack"


def state_dir_of(config: Path) -> Path:
    """Where the state (ports, logs, run, control socket) of the config file ``config`` lives:
    ``.devstack/`` beside it for ``devstack.toml`` (or a Procfile), ``.devstack/configs/NAME/`` for any
    other name (``-f other.toml``), so that two configs of one folder never share ports or a run."""
    base = config.parent / STATE_DIR_NAME
    if config.name in (CONFIG_NAME, PROCFILE_NAME):
        return base
    return base / "configs" / config.name


class Located:
    """Something read from a config file at ``path``: the project's root is the file's directory, and
    its state lives in ``.devstack/`` there (``state_dir_of``)."""

    path: Path

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def state_dir(self) -> Path:
        return state_dir_of(self.path)


def find_config(start: Path, explicit: Path | None = None) -> Path:
    """``-f PATH`` if given; else the nearest devstack.toml from ``start`` upward (as git finds its
    repository); else a Procfile in ``start``."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else start / explicit
        if path.is_dir():
            path = path / CONFIG_NAME
        if not path.is_file():
            raise ConfigError([Problem(str(explicit), "", "no such file")])
        return path.resolve()
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    if (start / PROCFILE_NAME).is_file():
        return start / PROCFILE_NAME
    raise ConfigError([Problem(
        str(start), "",
        f"no {CONFIG_NAME} here or in any parent directory, and no {PROCFILE_NAME} here: "
        f"write one (devstack init) or point at one with -f PATH",
    )])


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the current directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
