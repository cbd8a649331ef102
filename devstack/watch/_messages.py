"""The phrases the supervisor prints about watching; the watcher itself prints nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ("describe_change", "describe_loop")


def describe_change(paths: Sequence[Path], cwd: Path) -> str:
    """What changed, in a few words, for "api restarting: app.py and 3 more changed".

    >>> describe_change([Path("/p/api/app.py"), Path("/p/api/db.py")], Path("/p/api"))
    'app.py and 1 more changed'
    """
    if not paths:
        return "files changed"
    first = _show(paths[0], cwd)
    more = len(paths) - 1
    return f"{first} changed" if not more else f"{first} and {more} more changed"


def describe_loop(
    name: str, paths: Sequence[Path], cwd: Path, *, limit: int = 10, window: float = 10.0
) -> str:
    """The warning for a service whose watching was paused because it kept restarting itself:
    "api restarted more than 10 times in 10 s because of its own changes, watching it is paused;
    keeps changing: app.log. Add what it writes to its `ignore` (or write it outside the watched tree)."
    """
    shown = [_show(p, cwd) for p in paths[:3]]
    if len(paths) > 3:
        shown.append(f"and {len(paths) - 3} more")
    return (
        f"{name} restarted more than {limit} times in {window:g} s because of its own changes, watching it "
        f"is paused; keeps changing: {', '.join(shown) or 'unknown'}. Add what it writes to its `ignore` "
        f"(or write it outside the watched tree); `devstack restart {name}` watches it again."
    )


def _show(path: Path, cwd: Path) -> str:
    return path.relative_to(cwd).as_posix() if path.is_relative_to(cwd) else str(path)
