"""``${...}`` in ``cmd`` and ``env``: the ports and URLs devstack assigned, spelled in the config.

    ${PORT} ${HOST} ${FD}        this service's main port, 127.0.0.1, its listening socket's descriptor
    ${api.port} ${api.url}       another service's (or this one's) main port and URL
    ${api.host}                  127.0.0.1
    ${api.ports.admin}           a named port;  ${api.urls.admin} its URL
    $$                           a literal $

Any other ``${NAME}`` (no dot) is left alone in a ``cmd`` string, for the shell to expand as usual, and is
taken from the service's environment in ``env`` values. A dotted reference that names no service, or an
attribute or port that does not exist, is a config error, found before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .wording import did_you_mean, quote

__all__ = ("OWN_NAMES", "Reference", "references", "render")

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}")
OWN_NAMES = frozenset({"PORT", "HOST", "FD"})


class Reference:
    """One ``${...}``: ``service`` is None for ``${PORT}``-style and plain variables."""

    __slots__ = ("_parts", "attr", "raw", "service", "sub")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        parts = raw.split(".")
        self.service: str | None = parts[0] if len(parts) > 1 else None
        self.attr = parts[1] if len(parts) > 1 else parts[0]
        self.sub = parts[2] if len(parts) > 2 else None
        self._parts = len(parts)

    @property
    def dotted(self) -> bool:
        return self.service is not None

    def problem(self, services: Mapping[str, set[str] | None]) -> str | None:
        """Why this reference cannot be resolved, given each service's port keys (None for a service
        whose own config is wrong: only its name is judged); None if it can."""
        if not self.dotted:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.raw):
                return f"${{{self.raw}}} is not a valid reference"
            return None
        name = self.service
        assert name is not None
        if name not in services:
            return (f"${{{self.raw}}} names no service {quote(name)} (services: {', '.join(services)})"
                    f"{did_you_mean(name, services)}")
        ports = services[name]
        if ports is None:
            return None
        if self._parts == 2 and self.attr in ("port", "url"):
            if "port" not in ports:
                return f"${{{self.raw}}}: service {quote(name)} has no port (port = false)"
            return None
        if self._parts == 2 and self.attr == "host":
            return None
        if self._parts == 3 and self.attr in ("ports", "urls"):
            assert self.sub is not None
            if self.sub not in ports or self.sub == "port":
                named = ", ".join(sorted(p for p in ports if p != "port")) or "none"
                return (f"${{{self.raw}}}: service {quote(name)} has no port named {quote(self.sub)} "
                        f"(its named ports: {named})")
            return None
        return (f"${{{self.raw}}} is not a reference devstack knows: use ${{{name}.port}}, "
                f"${{{name}.url}}, ${{{name}.host}} or ${{{name}.ports.NAME}}")


def references(text: str) -> list[Reference]:
    return [Reference(m.group(1)) for m in _TOKEN.finditer(text) if m.group(0) != "$$"]


def render(text: str, resolve: Callable[[Reference], str | None]) -> str:
    """Replace each reference by ``resolve(ref)``; where that is None the reference stays as written
    (for the shell). ``$$`` becomes ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        value = resolve(Reference(m.group(1)))
        return m.group(0) if value is None else value

    return _TOKEN.sub(sub, text)
