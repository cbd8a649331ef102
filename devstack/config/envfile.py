"""Env files (``KEY=value`` lines) read with python-dotenv's parser, the semantics users expect of a
``.env`` (docker compose's agree for these cases): ``'single'`` and ``"double"`` quotes (escapes in
double quotes, values over several lines), ``#`` starting a comment only after whitespace in an
unquoted value (``p@ss#word`` stays whole), tabs kept, ``export`` allowed. ``${...}`` is kept as
written (no interpolation). A line the parser cannot read, a name without ``=`` or a NUL byte is
reported with its line: a malformed .env never quietly drops or changes a variable."""

from __future__ import annotations

import io
from pathlib import Path

from dotenv.parser import parse_stream

from ..errors import Problem
from .reading import read_config_text

__all__ = ("read_env_file",)


def read_env_file(path: Path, shown: str, problems: list[Problem], key: str = "") -> dict[str, str]:
    """Variables of one env file; each bad line adds a problem naming its line number, and ``key``: the
    config entry that names the file (``services.api.env_file``), if one does."""
    try:
        text = read_config_text(path)
    except FileNotFoundError:
        problems.append(Problem(shown, key, "env file not found: create it or remove it from env_file"))
        return {}
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or over the size limit
        problems.append(Problem(shown, key, f"cannot read env file: {exc}"))
        return {}
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        # the parser counts a line's leading blank lines with it: the line meant is the first non-blank
        line = binding.original.line + len(original) - len(original.lstrip("\r\n"))
        shown_line = original.strip().split("\n", 1)[0]
        name, value = binding.key, binding.value
        if binding.error or (name is not None and value is None):
            problems.append(Problem(shown, key, _malformed(shown_line), line))
        elif name is None or value is None:
            continue  # a blank line or a comment
        elif "\0" in name or "\0" in value:
            problems.append(Problem(shown, key, f"a NUL byte in {name.replace(chr(0), '')!r}: no "
                                    "variable can hold one; remove it", line))
        else:
            values[name] = value
    return values


def _malformed(line: str) -> str:
    name, eq, value = line.partition("=")
    if eq and value.lstrip()[:1] in ("'", '"'):
        return f"malformed line (no closing quotation): {line!r}"
    if eq and " " not in name.strip():
        return f"malformed line: {line!r} (quote a value with spaces in it)"
    return f"expected NAME=value, found {line!r}"
