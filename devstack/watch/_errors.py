"""Errors of the watcher. Both are ``DevstackError``s: ``cli.py`` prints them and exits 1.

    DevstackError
     └── WatchError               -- the stack's files cannot be watched (a root is missing, unreadable)
          └── WatchLimitError     -- the OS limit on file watches (inotify) is reached
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

from ..errors import DevstackError

__all__ = ("WatchError", "WatchLimitError", "translate_os_error")

RAISE_WATCHES = "sudo sysctl fs.inotify.max_user_watches=524288"
RAISE_INSTANCES = "sudo sysctl fs.inotify.max_user_instances=512"
POLL_INSTEAD = "[devstack] watch_polling = true"


class WatchError(DevstackError):
    """The stack's files cannot be watched."""


class WatchLimitError(WatchError):
    """The OS refuses more file watches (inotify's max_user_watches or max_user_instances)."""


def translate_os_error(exc: OSError, roots: Sequence[Path]) -> WatchError:
    """Turn what watchfiles raises while it sets up its watches into a message that says what to do.

    watchfiles builds its OSErrors from strings, so ``errno`` is usually unset and the message is what
    tells: "OS file watch limit reached" (inotify_add_watch failed with ENOSPC) or "Too many open files"
    / "os error 24" (inotify_init failed with EMFILE: too many inotify instances).
    """
    text = str(exc)
    lowered = text.lower()
    where = ", ".join(str(r) for r in roots)
    if exc.errno == errno.EMFILE or "too many open files" in lowered or "os error 24" in lowered:
        return WatchLimitError(
            f"cannot watch {where}: the OS limit on inotify instances is reached ({_first_line(text)}).\n"
            f"Raise it:      {RAISE_INSTANCES}\n"
            f"or poll instead, in devstack.toml:  {POLL_INSTEAD}"
        )
    if exc.errno == errno.ENOSPC or "watch limit" in lowered or "os error 28" in lowered:
        return WatchLimitError(
            f"cannot watch {where}: the OS limit on file watches is reached ({_first_line(text)}).\n"
            f"Raise it:      {RAISE_WATCHES}\n"
            f"               (add fs.inotify.max_user_watches=524288 to /etc/sysctl.d/ to keep it)\n"
            f"or poll instead, in devstack.toml:  {POLL_INSTEAD}\n"
            "Every directory under a watched path takes a watch, ignored ones too (node_modules): "
            "narrower `watch` entries need fewer."
        )
    if isinstance(exc, FileNotFoundError):
        missing = [str(r) for r in roots if not r.exists()] or [where]
        return WatchError(f"cannot watch {', '.join(missing)}: no such file or directory")
    if isinstance(exc, PermissionError):
        return WatchError(f"cannot watch {where}: permission denied ({_first_line(text)})")
    return WatchError(f"cannot watch {where}: {_first_line(text)}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
