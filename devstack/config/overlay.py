"""The personal override file: ``devstack.local.toml`` beside ``devstack.toml`` (``NAME.local.toml``
beside ``NAME.toml``), never committed, merged over it.

Tables merge key by key; any other value (a string, a number, an array) replaces the one below. Each
file is kept as a ``Source`` so that a problem in the merged result is reported in the file, and at the
line, where its key was written.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem
from .discover import shown
from .locate import find_line
from .reading import TooLarge, read_config_text

__all__ = ("Source", "local_path", "merge", "read_source", "source_of")

LOCAL_SUFFIX = ".local.toml"


@dataclass(frozen=True)
class Source:
    path: Path
    text: str
    data: dict[str, Any]

    @property
    def shown(self) -> str:
        return shown(self.path)

    def line(self, key: tuple[str, ...]) -> int | None:
        return find_line(self.text, key)


def local_path(path: Path) -> Path:
    """``devstack.toml`` -> ``devstack.local.toml``."""
    return path.with_name(path.stem + LOCAL_SUFFIX)


def read_source(path: Path) -> Source:
    """The file's text and its TOML; a problem naming the file (and the line) when it is neither."""
    where = shown(path)
    try:
        text = read_config_text(path)
    except TooLarge as exc:
        raise ConfigError([Problem(where, "", str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(where, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) \
            from None
    except OSError as exc:
        raise ConfigError([Problem(where, "", f"cannot read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError([Problem(where, "", f"invalid TOML: {exc}", int(m.group(1)) if m else None)]) \
            from None
    return Source(path, text, data)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged over ``base``: tables key by key, any other value replaced.

    >>> merge({"a": {"x": 1, "y": [1]}, "b": 1}, {"a": {"y": [2]}, "c": 3})
    {'a': {'x': 1, 'y': [2]}, 'b': 1, 'c': 3}
    """
    out = dict(base)
    for key, value in over.items():
        below = out.get(key)
        out[key] = merge(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return out


def _depth(data: Any, key: tuple[str, ...]) -> int:
    """How many parts of ``key`` ``data`` holds, from the top."""
    n = 0
    for part in key:
        if not isinstance(data, dict) or part not in data:
            break
        data = data[part]
        n += 1
    return n


def source_of(sources: Sequence[Source], key: tuple[str, ...]) -> Source:
    """The file a key of the merged config comes from: the last one that sets it (an override wins),
    else the one that holds most of its path (the main file, on a tie)."""
    for source in reversed(sources):
        if key and _depth(source.data, key) == len(key):
            return source
    return max(sources, key=lambda s: _depth(s.data, key))
