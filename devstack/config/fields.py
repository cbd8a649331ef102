"""Parsers for single config values. Each takes the raw TOML value and returns the typed one, or raises
``Invalid`` saying what was expected; the loader adds the file, key path and line."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from typing import Any

__all__ = (
    "Invalid",
    "describe",
    "parse_bool",
    "parse_cmd",
    "parse_duration",
    "parse_signal",
    "parse_str",
    "parse_str_list",
    "parse_str_table",
)


class Invalid(ValueError):
    def __init__(self, expected: str, found: Any = None, *, message: str | None = None) -> None:
        self.expected = expected
        self.found = found
        super().__init__(message or f"expected {expected}, found {describe(found)}")


def describe(value: Any) -> str:
    """How a TOML value reads in an error message: the value and its TOML type."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    if isinstance(value, str) and value == "":
        return "an empty string"
    if isinstance(value, (dict, list)):
        return kind
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) \
        else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def parse_str(value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise Invalid("a string", value)
    if not allow_empty and not value.strip():
        raise Invalid("a non-empty string", value)
    return value


def parse_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("true or false", value)
    return value


def parse_str_list(value: Any, *, what: str = "strings") -> tuple[str, ...]:
    """A string or an array of strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Invalid(f"a string or an array of non-empty {what}", value)
    return tuple(value)


def parse_cmd(value: Any) -> str | tuple[str, ...]:
    """A string (run by ``sh -c``) or a non-empty array of strings (run directly)."""
    if isinstance(value, str):
        if not value.strip():
            raise Invalid("a command", value, message="empty command: give the command to run, "
                          'e.g. cmd = "python -m http.server ${PORT}"')
        return value
    if isinstance(value, list):
        if not value:
            raise Invalid("a command", value, message="empty command: the array has no program to run")
        if not all(isinstance(v, str) for v in value):
            raise Invalid("an array of strings", value)
        if not value[0].strip():
            raise Invalid("a command", value, message="empty command: the program name is empty")
        return tuple(value)
    raise Invalid('a string (run by sh -c) or an array of strings (run directly)', value)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_str_table(value: Any) -> dict[str, str]:
    """A table of environment variables. Numbers and booleans are accepted and written as TOML shows
    them (``true``, ``8000``), which is what a user typing ``DEBUG = true`` means."""
    if not isinstance(value, dict):
        raise Invalid("a table of NAME = \"value\"", value)
    out: dict[str, str] = {}
    for name, v in value.items():
        if not _ENV_NAME.match(name):
            raise Invalid("variable names of letters, digits and _", name,
                          message=f"{name!r} is not a valid environment variable name "
                                  "(letters, digits and _, not starting with a digit)")
        if isinstance(v, bool):
            out[name] = "true" if v else "false"
        elif isinstance(v, (str, int, float)):
            out[name] = str(v)
        else:
            raise Invalid(f"a string for {name}", v)
    return out


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds as a number, or a string like ``"500ms"``, ``"2s"``, ``"1m30s"``."""
    if isinstance(value, bool):
        raise Invalid('a duration (seconds, or a string like "500ms", "2s", "1m")', value)
    if isinstance(value, (int, float)):
        if value < 0:
            raise Invalid("a duration of zero or more", value)
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        pos, total = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if text and pos == len(text):
            return total
    raise Invalid('a duration (seconds, or a string like "500ms", "2s", "1m")', value)


def parse_signal(value: Any) -> signal.Signals:
    """``"SIGINT"``, ``"INT"`` or a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return signal.Signals(value)
        except ValueError:
            pass
    elif isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        sig = getattr(signal.Signals, name, None)
        if isinstance(sig, signal.Signals) and sig not in (signal.SIGKILL, signal.SIGSTOP):
            return sig
    raise Invalid('a signal name such as "SIGTERM", "SIGINT" or "SIGQUIT"', value)


Parser = Callable[[Any], Any]
