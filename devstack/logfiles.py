"""Reading ``.devstack/logs/NAME.log`` back, for ``devstack logs`` when no stack runs: the services' files
merged in time order and streamed, and with ``-n`` read backwards from their ends, so that time and
memory follow what is printed, not the size of the files (the last 5 lines of 300 MB of logs are a
few blocks' read). Each line is ``ISO-TIME text``, as ``output.Printer`` writes it; a file is opened as
devstack opens all its own (``files.open_private``: never through a link, only a regular file), and a
line is cut at ``LINE_LIMIT`` bytes, whatever the file holds."""

from __future__ import annotations

import collections
import functools
import heapq
import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .files import open_private

__all__ = ("LINE_LIMIT", "read_logs")

Entry = tuple[float, str, str]  # time, service, text

LINE_LIMIT = 1024 * 1024
BLOCK = 64 * 1024
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) (.*)$", re.S)


@functools.lru_cache(maxsize=4096)
def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()  # a second's lines share one stamp: parsed once


def _entry(raw: bytes, name: str) -> Entry:
    line = raw.decode("utf-8", "replace")
    m = _LOG_LINE.match(line)
    if m is None:
        return 0.0, name, line
    return _stamp(m.group(1)), name, m.group(2)


def _open(path: Path) -> BinaryIO | None:
    if not os.path.lexists(path):
        return None
    return os.fdopen(open_private(path, os.O_RDONLY), "rb")


def _forward(f: BinaryIO) -> Iterator[bytes]:
    """Lines from the start, each cut at ``LINE_LIMIT`` bytes."""
    while raw := f.readline(LINE_LIMIT):
        if not raw.endswith(b"\n"):
            rest = raw
            while rest and not rest.endswith(b"\n"):  # the rest of an overlong line: skipped
                rest = f.readline(BLOCK)
        yield raw.rstrip(b"\n")


def _backward(f: BinaryIO) -> Iterator[bytes]:
    """Lines from the end, last first, each cut at ``LINE_LIMIT`` bytes (its end kept)."""
    pos = f.seek(0, os.SEEK_END)
    tail = b""  # the part of a line already read (it continues leftward)
    first = True
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        f.seek(pos)
        block = f.read(step)
        if first and block.endswith(b"\n"):
            block = block[:-1]  # the file's final newline ends the last line; it starts none
        first = False
        parts = block.split(b"\n")
        parts[-1] += tail
        tail = parts[0][-LINE_LIMIT:]
        yield from reversed([p[-LINE_LIMIT:] for p in parts[1:]])
    if tail or not first:
        yield tail


def _last(f: BinaryIO, name: str, n: int, keep: Callable[[Entry], bool], since: float | None) -> list[Entry]:
    """The last ``n`` kept entries of one file, oldest first; reading stops at a line older than
    ``since`` (the file is in time order)."""
    found: list[Entry] = []
    for raw in _backward(f):
        entry = _entry(raw, name)
        if since is not None and 0 < entry[0] < since:
            break
        if keep(entry):
            found.append(entry)
            if len(found) == n:
                break
    found.reverse()
    return found


def read_logs(files: dict[str, Path], keep: Callable[[Entry], bool], last: int = 0,
              since: float | None = None) -> Iterator[Entry]:
    """The entries of ``files`` (service -> log file) that ``keep`` accepts and are not older than
    ``since``, merged in time order; only the last ``last`` of them when it is not 0."""
    opened = {name: f for name, path in files.items() if (f := _open(path)) is not None}
    try:
        streams: list[Iterable[Entry]]
        if last:
            streams = [_last(f, name, last, keep, since) for name, f in opened.items()]
        else:
            streams = [(e for raw in _forward(f) if (e := _entry(raw, name))[0] >= (since or 0) and keep(e))
                       for name, f in opened.items()]
        merged = heapq.merge(*streams, key=lambda e: (e[0], e[1]))
        yield from collections.deque(merged, maxlen=last) if last else merged
    finally:
        for f in opened.values():
            f.close()
