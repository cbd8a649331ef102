"""Parsers for single config values. Each takes the raw TOML value and returns the typed one, or raises
``Invalid`` saying what was expected; the loader adds the file, key path and line."""

from __future__ import annotations

import re
import signal
from typing import Any

from ..wording import did_you_mean, quote

__all__ = (
    "Invalid",
    "describe",
    "parse_bool",
    "parse_cmd",
    "parse_depends_on",
    "parse_duration",
    "parse_image",
    "parse_int",
    "parse_named_ports",
    "parse_port",
    "parse_port_range",
    "parse_profiles",
    "parse_reload",
    "parse_restart",
    "parse_scheme",
    "parse_signal",
    "parse_str",
    "parse_str_list",
    "parse_str_table",
    "parse_watch",
)


class Invalid(ValueError):
    """``hint``: what follows the found value, such as ``' (did you mean "no"?)'``."""

    def __init__(self, expected: str, found: Any = None, *, message: str | None = None,
                 hint: str = "") -> None:
        self.expected = expected
        self.found = found
        super().__init__(message or f"expected {expected}, found {describe(found)}{hint}")


def describe(value: Any) -> str:
    """How a TOML value reads in an error message: the value as TOML writes it, and its TOML type."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    if isinstance(value, str) and value == "":
        return "an empty string"
    if isinstance(value, (dict, list)):
        return kind
    text = quote(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) \
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
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise Invalid("an array of strings", v, message=f"expected an array of strings, found "
                              f"{describe(v)} at index {i}")
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
                          message=f"{quote(name)} is not a valid environment variable name "
                                  "(letters, digits and _, not starting with a digit)")
        if isinstance(v, bool):
            out[name] = "true" if v else "false"
        elif isinstance(v, (str, int, float)):
            out[name] = str(v)
        else:
            raise Invalid(f"a string for {name}", v)
    return out


# docker's reference grammar (distribution/reference), slightly simplified: [host[:port]/]path[:tag][@digest]
_IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (rf"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_IMAGE_PART}(?:/{_IMAGE_PART})*"
                 r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$")
_IMAGE = re.compile(IMAGE_PATTERN)


def parse_image(value: Any) -> str:
    """A container image reference (``postgres:16``, ``ghcr.io/acme/api:1.2``), used by
    ``devstack export compose`` and ``kubernetes``; ``devstack up`` runs ``cmd`` as ever."""
    text = parse_str(value)
    if not _IMAGE.match(text):
        raise Invalid("an image reference", value,
                      message=f"invalid image reference {quote(text)}: expected "
                              "[registry/]name[:tag][@sha256:digest] in lower case, "
                              'e.g. "postgres:16" or "ghcr.io/acme/api:1.2"')
    return text


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds as a number, or a string like ``"500ms"``, ``"2s"``, ``"1m30s"``; a string that is a plain
    number (``"30"``, what a command line gives) is seconds too."""
    if isinstance(value, bool):
        raise Invalid('a duration (seconds, or a string like "500ms", "2s", "1m")', value)
    if isinstance(value, (int, float)):
        if value < 0:
            raise Invalid("a duration of zero or more", value)
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        pos, total = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if text and pos == len(text):
            return total
        raise Invalid('a duration (seconds, or a string like "500ms", "2s", "1m")', value,
                      hint=_duration_hint(text))
    raise Invalid('a duration (seconds, or a string like "500ms", "2s", "1m")', value)


_UNIT_WORDS = {"ms": "ms", "msec": "ms", "millisecond": "ms", "milliseconds": "ms", "sec": "s",
               "secs": "s", "second": "s", "seconds": "s", "min": "m", "mins": "m", "minute": "m",
               "minutes": "m", "hr": "h", "hrs": "h", "hour": "h", "hours": "h"}


def _duration_hint(text: str) -> str:
    """``"5seconds"`` -> ``'; did you mean "5s"?'``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text)
    unit = _UNIT_WORDS.get(m.group(2).lower()) if m else None
    return f"; did you mean {quote(m.group(1) + unit)}?" if m and unit else ""


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
        names = [s.name for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP)]
        raise Invalid('a signal name such as "SIGTERM", "SIGINT" or "SIGQUIT"', value,
                      hint=did_you_mean(name, names))
    raise Invalid('a signal name such as "SIGTERM", "SIGINT" or "SIGQUIT"', value)


def parse_int(value: Any, *, low: int, high: int, what: str = "an integer") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{what} from {low} to {high}", value)
    return value


def parse_port(value: Any) -> int | bool:
    """``port = 8000`` pins, ``port = false`` means no port, ``port = true`` the default (assigned)."""
    if isinstance(value, bool):
        return value
    return parse_int(value, low=1, high=65535, what="true, false or a port number")


_PORT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def parse_named_ports(value: Any) -> dict[str, int | None]:
    """``ports = ["admin", "metrics"]`` or ``ports = { admin = 9000, metrics = true }``."""
    if isinstance(value, list):
        items: dict[str, Any] = {}
        for v in value:
            if not isinstance(v, str):
                raise Invalid("an array of port names", value)
            if v in items:
                raise Invalid("unique port names", v, message=f"port name {quote(v)} is listed twice")
            items[v] = True
    elif isinstance(value, dict):
        items = value
    else:
        raise Invalid('an array of port names (["admin"]) or a table of name = port number', value)
    out: dict[str, int | None] = {}
    for name, pin in items.items():
        if not _PORT_NAME.match(name) or name == "port":
            raise Invalid("a port name", name, message=f"invalid port name {quote(name)}: use lower-case "
                          "letters, digits and _, starting with a letter (and not \"port\")")
        if pin is True:
            out[name] = None
        else:
            out[name] = parse_int(pin, low=1, high=65535, what=f"true or a port number for {name}")
    return out


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


def parse_scheme(value: Any) -> str:
    text = parse_str(value)
    if not _SCHEME.match(text):
        raise Invalid('a URL scheme such as "http", "https" or "postgresql"', value)
    return text


PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_profiles(value: Any) -> tuple[str, ...]:
    """docker compose's profile names: letters, digits, ``_``, ``.`` and ``-``, starting with a letter
    or digit; ``[]`` is no profile (always started)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid('an array of profile names such as ["debug"]', value)
    bad = [v for v in value if not PROFILE_NAME.match(v)]
    if bad:
        raise Invalid("profile names of letters, digits, _, . and -, starting with a letter or digit",
                      message=f"invalid profile name {quote(bad[0])}: use letters, digits, _, . and -, "
                      "starting with a letter or digit")
    return tuple(dict.fromkeys(value))


_CONDITIONS = {
    "started": "started", "service_started": "started",
    "healthy": "healthy", "service_healthy": "healthy",
    "completed_successfully": "completed_successfully",
    "service_completed_successfully": "completed_successfully",
}


def parse_depends_on(value: Any) -> tuple[tuple[str, str], ...]:
    """``["db"]`` (started) or ``{ db = "healthy", migrate = "completed_successfully" }``; docker
    compose's ``service_*`` spellings and its ``{ condition = "..." }`` form are accepted too."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(v, str) and v for v in value):
            raise Invalid("an array of service names", value)
        return tuple((v, "started") for v in value)
    if not isinstance(value, dict):
        raise Invalid('an array of service names or a table of name = "condition"', value)
    out = []
    for name, cond in value.items():
        if isinstance(cond, dict) and set(cond) <= {"condition"} and "condition" in cond:
            cond = cond["condition"]
        if not isinstance(cond, str) or cond not in _CONDITIONS:
            hint = did_you_mean(cond, _CONDITIONS) if isinstance(cond, str) else ""
            raise Invalid("a condition", cond, message=f"depends_on {name}: expected one of \"started\", "
                          f"\"healthy\", \"completed_successfully\", found {describe(cond)}{hint}")
        out.append((name, _CONDITIONS[cond]))
    return tuple(out)


def parse_watch(value: Any) -> bool | tuple[str, ...]:
    """``true`` (the service's cwd), ``false``, or paths / glob patterns relative to the cwd."""
    if isinstance(value, bool):
        return value
    return parse_str_list(value, what="paths or glob patterns")


def parse_port_range(value: Any) -> tuple[int, int]:
    """``[20000, 29999]`` or ``"20000-29999"``."""
    pair: Any = value
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
        pair = [int(p) for p in value.split("-")]
    if (not isinstance(pair, list) or len(pair) != 2
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in pair)):
        raise Invalid('a range such as [20000, 29999] or "20000-29999"', value)
    low, high = pair
    if not 1024 <= low <= high <= 65535:
        raise Invalid("a range within 1024-65535 with the low end first", value)
    if high - low < 9:
        raise Invalid("a range of at least 10 ports", value)
    return (low, high)


# other tools' spellings of a restart policy (docker compose, systemd, supervisord) -> devstack's
_RESTART_ALIASES = {"never": "no", "false": "no", "none": "no", "off": "no", "unless-stopped": "always",
                    "on-abnormal": "on-failure", "on_failure": "on-failure", "true": "always"}


def parse_restart(value: Any) -> str:
    if value is False:
        return "no"
    policies = ("no", "on-failure", "always")
    if value not in policies:
        hint = did_you_mean(value, policies, _RESTART_ALIASES) if isinstance(value, str) else ""
        raise Invalid('one of "no", "on-failure", "always"', value, hint=hint)
    return str(value)


def parse_reload(value: Any) -> str:
    """How a restart on request (a change, ``devstack restart``) goes: ``"restart"`` stops, then starts;
    ``"overlap"`` starts the new instance on the shared socket first."""
    if value not in ("restart", "overlap"):
        hint = did_you_mean(value, ("restart", "overlap")) if isinstance(value, str) else ""
        raise Invalid('"restart" (stop, then start) or "overlap" (start the new instance first)', value,
                      hint=hint)
    return str(value)
