"""Reading a config file (devstack.toml, a Procfile, an env file) with a size limit, checked before
anything is read: a sparse file of a huge apparent size, ``/dev/zero`` or a generated file gone wrong is
refused at once, instead of filling memory or taking minutes to parse. Real configs are a few KiB."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ("MAX_FILE_BYTES", "TooLarge", "read_config_text")

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: a devstack.toml of 500 services is about 50 KiB


class TooLarge(ValueError):
    """The file is over ``MAX_FILE_BYTES``; the message says so, for ``cannot read ...: MESSAGE``."""


def read_config_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The text of ``path`` (UTF-8). Raises ``TooLarge``, ``OSError`` or ``UnicodeDecodeError``."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise TooLarge(_too_large(size, limit))
        data = f.read(limit + 1)  # a size that lies (a device, /proc) is caught here
    if len(data) > limit:
        raise TooLarge(_too_large(None, limit))
    return data.decode("utf-8")


def _too_large(size: int | None, limit: int) -> str:
    found = f"{size:,} bytes" if size is not None else "more than that"
    return f"over the limit of {limit // 1024} KiB for a config file ({found}): is it the right file?"
