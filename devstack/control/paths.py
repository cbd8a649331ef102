"""Where a project's control socket lives.

``.devstack/control.sock`` when its path fits in a Unix socket address (108 bytes on Linux, 104 on
macOS); otherwise a socket named after a hash of the project path in a per-user runtime directory
(``$XDG_RUNTIME_DIR/devstack`` or ``/tmp/devstack-UID``, mode 0700). Either way ``run.json`` records the
path the running supervisor chose, and clients read it from there.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

__all__ = ("socket_path",)

_MAX = 104 if sys.platform == "darwin" else 108


def socket_path(state_dir: Path) -> Path:
    preferred = state_dir / "control.sock"
    if len(os.fsencode(preferred)) < _MAX:
        return preferred
    runtime = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    base = Path(runtime) / ("devstack" if "XDG_RUNTIME_DIR" in os.environ else f"devstack-{os.getuid()}")
    base.mkdir(mode=0o700, exist_ok=True)
    if base.stat().st_uid != os.getuid():
        raise PermissionError(f"{base} belongs to another user")
    os.chmod(base, 0o700)
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    return base / f"{digest}.sock"
