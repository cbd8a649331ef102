"""The exclusive file lock with a deadline that the port store and the lease registry share."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import PortError
from ..files import open_private

__all__ = ("locked",)


@contextlib.contextmanager
def locked(path: Path, timeout: float = 10.0) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``path`` (created 0600). flock has no timeout of its own, and a holder
    that is stopped (Ctrl-Z) would otherwise hang every other devstack of this user, so retry with a
    deadline and then say who to look for."""
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PortError(
                        f"{path} stayed locked for {timeout:g} s: another devstack is stuck allocating "
                        f"ports (a stopped process? see: fuser {path})") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        yield
    finally:
        os.close(fd)  # releases the lock
