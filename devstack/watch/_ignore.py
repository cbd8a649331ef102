"""What the watcher never reports: build and environment directories, editors' temporary files, and
whatever the repository's .gitignore files ignore.

Every rule applies *below* the watched path, never to the path itself or its parents: a project that
lives in ``~/build/shop`` is still watched, and so is a ``dist/`` that a service names in ``watch``
although .gitignore ignores it (the .gitignore files above such a path are then not applied to it).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from pathspec import GitIgnoreSpec
from watchfiles import DefaultFilter

__all__ = ("IGNORED_DIRS", "GitIgnores", "is_editor_temp")

log = logging.getLogger("devstack.watch")

IGNORED_DIRS = frozenset(
    (
        *DefaultFilter.ignore_dirs,  # .git, __pycache__, node_modules, .venv, .mypy_cache, ...
        "venv",
        "dist",
        "build",
        ".next",
        "target",
        ".devstack",
        ".ruff_cache",
    )
)

_EDITOR_TEMP = tuple(
    re.compile(p)
    for p in (
        *DefaultFilter.ignore_entity_patterns,  # *.py[cod], .x.swp, x~, .#x, .DS_Store, flycheck_*
        r"___jb_(tmp|old|bak)___$",  # JetBrains' safe write: app.py___jb_tmp___
        r"^#.*#$",  # emacs auto-save
    )
)


def _is_vim_probe(name: str) -> bool:
    # vim checks that it may create files in a directory by creating 4913 (then 5036, 5159, ...)
    return name.isdigit() and int(name) >= 4913 and (int(name) - 4913) % 123 == 0


def is_editor_temp(name: str) -> bool:
    """Is ``name`` (a file name, not a path) one of the files editors write around a save?"""
    return _is_vim_probe(name) or any(r.search(name) for r in _EDITOR_TEMP)


class GitIgnores:
    """The .gitignore files of a project, read once and cached until one of them changes.

    A path is looked at from the top down, as git does: if a directory on the way is ignored, so is
    everything in it; otherwise the deepest .gitignore with a pattern that matches decides (later
    lines win within a file, ``!`` re-includes). Each file applies relative to its own directory.
    """

    def __init__(self, project_root: Path | None) -> None:
        self._project_root = project_root
        self._specs: dict[Path, GitIgnoreSpec | None] = {}
        self._above: dict[Path, list[tuple[Path, GitIgnoreSpec]]] = {}
        self._dirs: dict[tuple[Path, Path], bool] = {}

    def forget(self) -> None:
        """A .gitignore changed: read them all again when next needed."""
        self._specs.clear()
        self._above.clear()
        self._dirs.clear()

    def ignored(self, root: Path, path: Path) -> bool:
        """Is ``path``, under the watched directory ``root``, ignored by default or by .gitignore?"""
        parts = path.relative_to(root).parts
        if not parts:
            return False
        name = parts[-1]
        if any(p in IGNORED_DIRS for p in parts[:-1]) or is_editor_temp(name):
            return True
        is_dir = os.path.isdir(path)
        if name in IGNORED_DIRS and (is_dir or not os.path.lexists(path)):
            return True
        chain = list(self._specs_above(root))
        here = root
        for part in parts[:-1]:
            self._extend(chain, here)
            here = here / part
            key = (root, here)
            if key not in self._dirs:
                self._dirs[key] = _decide(chain, here, is_dir=True)
            if self._dirs[key]:
                return True
        self._extend(chain, here)
        return _decide(chain, path, is_dir=is_dir)

    def _extend(self, chain: list[tuple[Path, GitIgnoreSpec]], directory: Path) -> None:
        spec = self._spec(directory)
        if spec is not None:
            chain.append((directory, spec))

    def _specs_above(self, root: Path) -> list[tuple[Path, GitIgnoreSpec]]:
        """The .gitignore files from the project root down to (not including) ``root``; none when
        ``root`` is outside the project, or is itself ignored (then it was named on purpose)."""
        if root in self._above:
            return self._above[root]
        chain: list[tuple[Path, GitIgnoreSpec]] = []
        top = self._project_root
        if top is not None and root != top and root.is_relative_to(top):
            here = top
            for part in root.relative_to(top).parts:
                self._extend(chain, here)
                here = here / part
            if _decide(chain, root, is_dir=True):
                chain = []
        self._above[root] = chain
        return chain

    def _spec(self, directory: Path) -> GitIgnoreSpec | None:
        if directory not in self._specs:
            try:
                lines = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:  # no .gitignore here (the common case), or an unreadable one
                self._specs[directory] = None
            else:
                self._specs[directory] = GitIgnoreSpec.from_lines(lines)
                log.debug("read %s/.gitignore", directory)
        return self._specs[directory]


def _decide(chain: list[tuple[Path, GitIgnoreSpec]], path: Path, *, is_dir: bool) -> bool:
    for directory, spec in reversed(chain):
        rel = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
        include = spec.check_file(rel).include
        if include is not None:
            return include
    return False
