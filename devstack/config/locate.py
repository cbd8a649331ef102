"""Find the line of a key in TOML text. tomllib keeps no positions, so this reads the text the way a
person does: table headers, ``key =`` lines, dotted keys and inline tables. It is a best effort: when the
key itself is not found, the line of its nearest enclosing table is given."""

from __future__ import annotations

import re

__all__ = ("find_line",)

_HEADER = re.compile(r"^\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$")
_ATOM = r"""(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)"""
_KEY = re.compile(rf"^({_ATOM}(?:\s*\.\s*{_ATOM})*)\s*=")
_PART = re.compile(rf"\s*({_ATOM})\s*\.?")


def _split(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


def find_line(text: str, path: tuple[str, ...]) -> int | None:
    """1-based line where ``path`` (or the longest prefix of it that exists) is defined."""
    table: tuple[str, ...] = ()
    best: tuple[int, int] | None = None  # (matched depth, line)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            table = _split(header.group(1))
            depth = _common(table, path)
            if depth == len(path):  # the key itself is (a prefix of) this header: [service.api] for "service"
                return number
            if depth == len(table) and (best is None or depth > best[0]):
                best = (depth, number)
            continue
        key = _KEY.match(line)
        if not key:
            continue
        full = table + _split(key.group(1))
        depth = _common(full, path)
        if depth < len(full):
            continue
        if depth == len(path):
            return number
        # an inline table on this line may hold the rest of the path
        if depth == len(path) - 1 and re.search(
            r"[{,]\s*[\"']?" + re.escape(path[-1]) + r"[\"']?\s*=", raw[key.end():]
        ):
            return number
        if best is None or depth > best[0]:
            best = (depth, number)
    return best[1] if best else None


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
