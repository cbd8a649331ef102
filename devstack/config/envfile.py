"""Env files (``KEY=value`` lines) read with honcho's parser, line by line so that a line honcho would
silently skip is reported instead: a malformed .env should never quietly drop a variable."""

from __future__ import annotations

import re
from pathlib import Path

from honcho.environ import parse as honcho_parse

from ..errors import Problem

__all__ = ("read_env_file",)

_EMPTY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*$")


def read_env_file(path: Path, shown: str, problems: list[Problem], key: str = "") -> dict[str, str]:
    """Variables of one env file; each bad line adds a problem naming its line number, and ``key``: the
    config entry that names the file (``services.api.env_file``), if one does."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(shown, key, "env file not found: create it or remove it from env_file"))
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(shown, key, f"cannot read env file: {exc}"))
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):]
        empty = _EMPTY.match(stripped)
        if empty:  # honcho drops NAME= lines; an empty value is still a value
            values[empty.group(1)] = ""
            continue
        try:
            parsed = honcho_parse(stripped)
        except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
            problems.append(Problem(shown, key, f"malformed line ({str(exc).lower()}): {line.strip()!r}",
                                    number))
            continue
        if len(parsed) != 1:
            problems.append(Problem(shown, key, f"expected NAME=value, found {line.strip()!r}", number))
            continue
        values.update(parsed)
    return values
