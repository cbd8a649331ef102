"""Writing devstack's own files: atomically and readable by the user alone."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ("write_private",)


def write_private(path: Path, text: str) -> None:
    """Write atomically (temp file + rename, so a reader never sees half a file) with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
