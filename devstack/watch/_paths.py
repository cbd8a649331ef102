"""What a service watches: its ``watch`` entries turned into roots to watch and tests to route by.

An entry is an absolute path (a directory: everything under it; a file: that file) or an absolute glob
(``/p/api/**/*.py``; ``*`` stays within a directory, ``**`` crosses any number of them). A glob's root is
the directory before its first wildcard. A file is watched through its directory: editors save by
writing a new file and renaming it over the old one, and a watch held on the old file would go deaf
after the first save.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pathspec import GitIgnoreSpec, PathSpec
from pathspec.pattern import Pattern

if TYPE_CHECKING:
    from ..config.model import Service

__all__ = ("Entry", "WatchSpec", "check_watch_paths", "outermost")

_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class WatchSpec:
    """What one service watches: ``watch`` entries (absolute paths or globs) and ``ignore`` patterns
    (gitignore-style, relative to ``cwd``)."""

    cwd: Path
    watch: tuple[str, ...]
    ignore: tuple[str, ...] = ()

    @classmethod
    def from_service(cls, service: Service) -> WatchSpec:
        return cls(cwd=service.cwd, watch=tuple(service.watch), ignore=tuple(service.ignore))


class Kind(enum.Enum):
    DIR = "dir"
    FILE = "file"
    GLOB = "glob"


@dataclass(frozen=True)
class Entry:
    """One ``watch`` entry, ready to route by."""

    pattern: str
    kind: Kind
    root: Path  # the directory handed to the OS watcher
    glob: PathSpec[Pattern] | None = None  # for GLOB: matched against the path relative to ``root``

    @classmethod
    def parse(cls, pattern: str) -> Entry:
        path = Path(os.path.normpath(pattern))
        if _is_glob(pattern) and not os.path.lexists(path):
            parts = path.parts
            plain = next(i for i, p in enumerate(parts) if _MAGIC.intersection(p))
            root = Path(*parts[:plain])
            rest = "/".join(parts[plain:])
            # "/" anchors the pattern at root: gitignore's "*.py" alone would match at any depth
            return cls(pattern, Kind.GLOB, root, PathSpec.from_lines("gitignore", ["/" + rest]))
        if path.is_dir():
            return cls(pattern, Kind.DIR, path)
        return cls(pattern, Kind.FILE, path.parent)

    @property
    def path(self) -> Path:
        return Path(os.path.normpath(self.pattern))

    def matches(self, path: Path) -> bool:
        if self.kind is Kind.FILE:
            return path == self.path
        if not path.is_relative_to(self.root):
            return False
        if self.kind is Kind.DIR:
            return True
        assert self.glob is not None
        rel = path.relative_to(self.root).as_posix()
        return rel != "." and self.glob.match_file(rel)


class ServiceIgnore:
    """A service's own ``ignore`` patterns, relative to its cwd (or, for a change outside its cwd, to
    the watched directory it came through)."""

    def __init__(self, cwd: Path, patterns: Iterable[str]) -> None:
        self.cwd = cwd
        self.spec = GitIgnoreSpec.from_lines(list(patterns))

    def ignored(self, path: Path, root: Path) -> bool:
        if not len(self.spec):
            return False
        base = self.cwd if path.is_relative_to(self.cwd) else root
        rel = path.relative_to(base).as_posix()
        if rel == ".":
            return False
        return self.spec.match_file(rel) or (os.path.isdir(path) and self.spec.match_file(rel + "/"))


def outermost(roots: Iterable[Path]) -> list[Path]:
    """The roots that are not inside another one, sorted."""
    kept: list[Path] = []
    for root in sorted(set(roots), key=lambda r: (len(r.parts), r)):
        if not any(root.is_relative_to(k) for k in kept):
            kept.append(root)
    return sorted(kept)


def check_watch_paths(watch: Sequence[str]) -> list[str]:
    """Check a service's ``watch`` entries when the config is loaded; one message per bad entry.

    >>> check_watch_paths(["/nonexistent/api"])
    ['/nonexistent/api does not exist']
    """
    problems = []
    for pattern in watch:
        if not os.path.isabs(pattern):
            problems.append(f"{pattern} is not an absolute path")
            continue
        entry = Entry.parse(pattern)
        if entry.kind is Kind.GLOB:
            if not entry.root.is_dir():
                problems.append(f"{pattern}: {entry.root} does not exist")
            elif not os.access(entry.root, os.R_OK | os.X_OK):
                problems.append(f"{pattern}: {entry.root} is not readable")
        elif not os.path.exists(pattern):
            problems.append(f"{pattern} does not exist")
        elif not os.access(entry.root, os.R_OK | os.X_OK):
            problems.append(f"{pattern} is not readable")
    return problems


def _is_glob(pattern: str) -> bool:
    return bool(_MAGIC.intersection(pattern))
