"""Where a project's control socket lives.

``.devstack/control.sock`` when its path fits in a Unix socket address (108 bytes on Linux, 104 on
macOS); otherwise a socket named after a hash of the project path in a per-user runtime directory
(``$XDG_RUNTIME_DIR/devstack`` or ``/tmp/devstack-UID``). That directory is used only if it is what the
XDG spec asks of ``XDG_RUNTIME_DIR``: a real directory (not a symbolic link), owned by the user, mode
0700; one that another user made first is never followed or chmod-ed: the socket goes into a fresh
private directory for this run instead (``mkdtemp``), removed when the run ends. Either way ``run.json``
records the path the running supervisor chose, and clients read it from there.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from ..files import StateError, private_dir

__all__ = ("SocketPlace", "socket_place")

_MAX = 104 if sys.platform == "darwin" else 108


class SocketPlace(NamedTuple):
    path: Path
    made: Path | None = None  # a directory made for this run alone, removed with the socket
    note: str | None = None  # why the usual place was not used


def socket_place(state_dir: Path) -> SocketPlace:
    preferred = state_dir / "control.sock"
    if len(os.fsencode(preferred)) < _MAX:
        return SocketPlace(preferred)
    name = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16] + ".sock"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    uid = os.getuid()
    base = Path(xdg) / "devstack" if os.path.isabs(xdg) else Path(tempfile.gettempdir()) / f"devstack-{uid}"
    try:
        return SocketPlace(private_dir(base, private=True) / name)
    except StateError as exc:
        made = Path(tempfile.mkdtemp(prefix=f"devstack-{uid}-"))  # new, 0700, never an existing one
        return SocketPlace(made / name, made, f"not using {base} for the control socket: {exc}; using {made} "
                                              "for this run")
