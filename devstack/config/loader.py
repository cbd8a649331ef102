"""Read devstack.toml (or a Procfile) into a ``Config``, reporting every problem in one pass.

Each problem names the file, the key path, the line where it can be found, what was expected and what
was found; ``ConfigError`` carries them all. Nothing here prints.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem
from .envfile import read_env_file
from .fields import (
    Invalid,
    describe,
    parse_cmd,
    parse_duration,
    parse_signal,
    parse_str,
    parse_str_list,
    parse_str_table,
)
from .locate import find_line
from .model import Config, Service, Settings

__all__ = ("CONFIG_NAME", "SERVICE_KEYS", "SETTINGS_KEYS", "find_config", "load_config")

CONFIG_NAME = "devstack.toml"
PROCFILE_NAME = "Procfile"
RESERVED_NAMES = frozenset({"devstack"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

# key -> parser. The order is the order of the config reference.
SERVICE_KEYS: dict[str, Callable[[Any], Any]] = {
    "cmd": parse_cmd,
    "cwd": parse_str,
    "env": parse_str_table,
    "env_file": lambda v: parse_str_list(v, what="paths"),
    "stop_signal": parse_signal,
    "stop_timeout": parse_duration,
}
SETTINGS_KEYS: dict[str, Callable[[Any], Any]] = {}
TOP_KEYS = ("services", "devstack")


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


class _Reader:
    """Walks the parsed TOML, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.shown = _shown(path)
        self.problems: list[Problem] = []

    def problem(self, key: tuple[str, ...], message: str) -> None:
        self.problems.append(Problem(self.shown, ".".join(key), message, find_line(self.text, key)))

    def table(self, value: Any, key: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(key, f"expected a table, found {describe(value)}")
            return None
        return value

    def unknown_keys(self, table: dict[str, Any], known: Any, key: tuple[str, ...]) -> None:
        for name in table:
            if name not in known:
                hint = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                suggestion = f'; did you mean "{hint[0]}"?' if hint else \
                    f" (known keys: {', '.join(known)})"
                self.problem((*key, name), f"unknown key{suggestion}")

    def fields(self, table: dict[str, Any], spec: dict[str, Callable[[Any], Any]],
               key: tuple[str, ...]) -> dict[str, Any]:
        self.unknown_keys(table, spec, key)
        out: dict[str, Any] = {}
        for name, parser in spec.items():
            if name in table:
                try:
                    out[name] = parser(table[name])
                except Invalid as exc:
                    self.problem((*key, name), str(exc))
        return out


def load_config(path: Path) -> Config:
    """Read and validate the config at ``path`` (a devstack.toml or a Procfile)."""
    if path.name == PROCFILE_NAME and path.suffix != ".toml":
        from .procfile import load_procfile

        return load_procfile(path)
    shown = _shown(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(shown, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) \
            from None
    except OSError as exc:
        raise ConfigError([Problem(shown, "", f"cannot read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise ConfigError([Problem(shown, "", f"invalid TOML: {exc}", line)]) from None
    return _build(path, text, data)


def _build(path: Path, text: str, data: dict[str, Any]) -> Config:
    r = _Reader(path, text)
    r.unknown_keys(data, TOP_KEYS, ())
    settings = Settings(**r.fields(r.table(data.get("devstack", {}), ("devstack",)) or {},
                                   SETTINGS_KEYS, ("devstack",)))
    services: dict[str, Service] = {}
    raw_services = data.get("services")
    if raw_services is None:
        r.problems.append(Problem(r.shown, "services", 'no services: add a [services.NAME] table with '
                                  'cmd = "..." for each process to run', None))
    elif (table := r.table(raw_services, ("services",))) is not None:
        if not table:
            r.problem(("services",), "no services: add a [services.NAME] table with cmd = \"...\"")
        for name, raw in table.items():
            service = _service(r, name, raw)
            if service is not None:
                services[name] = service
    if r.problems:
        raise ConfigError(r.problems)
    return Config(path=path, services=services, settings=settings)


def _service(r: _Reader, name: str, raw: Any) -> Service | None:
    key = ("services", name)
    before = len(r.problems)
    if not _NAME.match(name):
        r.problem(key, f"invalid service name {name!r}: use letters, digits, - and _, starting with a "
                       "letter or digit (at most 63 characters)")
    elif name in RESERVED_NAMES:
        r.problem(key, f"the service name {name!r} is reserved for devstack's own messages")
    table = r.table(raw, key)
    if table is None:
        return None
    values = r.fields(table, SERVICE_KEYS, key)
    if "cmd" not in table:
        r.problem(key, 'missing cmd: the command to run, e.g. cmd = "python -m http.server ${PORT}"')
    root = r.path.parent
    cwd = root
    if "cwd" in values:
        cwd = (root / values.pop("cwd")).resolve()
        if not cwd.is_dir():
            r.problem((*key, "cwd"), f"directory not found: {cwd} (cwd is relative to {r.shown})")
    env_files, file_env = _env_files(r, key, values.pop("env_file", None))
    if len(r.problems) > before:
        return None
    return Service(name=name, cwd=cwd, env_files=env_files, file_env=file_env, **values)


def _env_files(r: _Reader, key: tuple[str, ...],
               names: tuple[str, ...] | None) -> tuple[tuple[Path, ...], dict[str, str]]:
    root = r.path.parent
    if names is None:  # the project's .env, when there is one
        default = root / ".env"
        names = (".env",) if default.is_file() else ()
    paths = tuple((root / n).resolve() for n in names)
    env: dict[str, str] = {}
    for name, path in zip(names, paths, strict=True):
        if not path.is_file():
            r.problem((*key, "env_file"), f"env file not found: {name} (relative to {r.shown})")
            continue
        env.update(read_env_file(path, _shown(path), r.problems))
    return paths, env


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _toml_error_line(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None
