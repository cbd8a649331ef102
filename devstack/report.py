"""Text for the commands that describe a stack: the ports table, the status table, env listings.
Pure functions from data to strings; ``cli.py`` prints them."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ("PORTS_HEADER", "STATUS_HEADER", "env_lines", "exit_text", "ports_rows", "status_rows", "table")

PORTS_HEADER = ("SERVICE", "NAME", "PORT", "URL", "PID", "STATE", "LISTENING")
STATUS_HEADER = ("SERVICE", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "RELOADS", "EXIT", "NOTE")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [row[-1]]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _url(scheme: str, port: int | None) -> str:
    return f"{scheme}://127.0.0.1:{port}" if port else ""


def ports_rows(services: Sequence[Mapping[str, Any]]) -> list[list[object]]:
    """One row per port: SERVICE, NAME, PORT, URL, PID, STATE, LISTENING (with what is wrong there)."""
    rows: list[list[object]] = []
    for s in services:
        ports = s.get("ports") or {}
        listening = s.get("listening") or {}
        findings = s.get("findings") or []
        pid, state = s.get("pid") or "", s.get("state", "")
        if not ports:
            rows.append([s["name"], "", "", "", pid, state, "; ".join(f["message"] for f in findings)])
            continue
        main = next(iter(ports.values()))
        for key, port in ports.items():
            where = ", ".join(listening.get(str(port), []))
            # each finding on the row of its port; one about another port (where it listens instead)
            # on the main row: every finding is shown once
            notes = [f["message"] for f in findings
                     if f.get("port") == port or (f.get("port") not in ports.values() and port == main)]
            scheme = s.get("scheme", "http") if key == "port" else "http"
            rows.append([s["name"], "" if key == "port" else key, port, _url(scheme, port), pid, state,
                         "  ".join(x for x in (where, *(f"({n})" for n in notes)) if x)])
    return rows


def status_rows(services: Sequence[Mapping[str, Any]]) -> list[list[object]]:
    """One row per service (``STATUS_HEADER``): RESTARTS are the crash restarts (and those after a
    failed health check), RELOADS the ones asked for; NOTE why it is not running, and every finding."""
    rows: list[list[object]] = []
    for s in services:
        uptime = s.get("uptime")
        restarts, reloads = s.get("restarts", 0), s.get("reloads", 0)
        notes = [s["why"]] if s.get("why") else []
        notes += [f["message"] for f in s.get("findings") or []]
        rows.append([s["name"], s.get("state", ""), s.get("pid") or "", s.get("ports", {}).get("port", ""),
                     _duration(uptime) if uptime is not None else "", restarts - reloads, reloads,
                     exit_text(s.get("exit_code")), "; ".join(notes)])
    return rows


def exit_text(code: int | None) -> str:
    """An exit code as a user reads it: ``0``, ``2``, or the signal that ended it (``SIGTERM``, not
    ``-15``)."""
    if code is None:
        return ""
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return str(code)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def env_lines(env: Mapping[str, str]) -> str:
    """``NAME=value`` lines, quoted for a POSIX shell (``set -a; . .devstack/env; set +a``)."""
    return "\n".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
