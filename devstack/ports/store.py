"""``.devstack/ports.toml``: the ports a project's services were given, kept so they come back next run.

It is written for people as much as for devstack::

    [api]
    port = 21432
    admin = 21433

Keys are service names, then port keys (``port`` for the main port, else the port's name). The file
mirrors the last allocation: services that are gone from the config are dropped from it.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path

import tomli_w

from ..errors import PortError
from ..files import read_private, write_private
from ..state import ensure_state_dir

__all__ = ("PORTS_FILE", "Assignments", "load_assignments", "ports_file", "read_assignments",
           "write_assignments")

log = logging.getLogger("devstack.ports.store")

PORTS_FILE = "ports.toml"
Assignments = dict[str, dict[str, int]]  # service -> port key -> port

_HEADER = ("# The ports devstack gave this project's services; they come back on the next run.\n"
           "# You may change one here while the stack is down: it is used while it is free, and moved\n"
           "# (with a warning) when it is not. A port that must never move: pin it in devstack.toml\n"
           "# (port = 8000), which stops devstack when it is busy instead.\n\n")


def ports_file(project_root: Path, state_dir: Path | None = None) -> Path:
    """``.devstack/ports.toml`` of the project, or ``ports.toml`` in a config's own ``state_dir``."""
    return (state_dir if state_dir is not None else project_root / ".devstack") / PORTS_FILE


def load_assignments(project_root: Path, state_dir: Path | None = None) -> tuple[Assignments, list[str]]:
    """The persisted assignments and a note for every entry that had to be ignored.

    A file that is not TOML at all is an error rather than a reason to hand out new ports: someone
    edited it, and silently moving every port would undo what stability promises."""
    path = ports_file(project_root, state_dir)
    try:
        text = read_private(path, limit=1024 * 1024)  # never through a link, only a regular file
        if text is None:
            return {}, []
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise PortError(f"cannot read {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise PortError(f"{path} is not valid TOML ({e}): fix it, or delete it to let devstack "
                        "assign new ports") from None
    out: Assignments = {}
    notes: list[str] = []
    for service, table in data.items():
        if not isinstance(table, dict):
            notes.append(f"{path}: ignoring {service} = {table!r}, expected a table of ports")
            continue
        for key, port in table.items():
            if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
                out.setdefault(service, {})[key] = port
            else:
                notes.append(f"{path}: ignoring {service}.{key} = {port!r}, expected a port number")
    return out, notes


def read_assignments(project_root: Path, state_dir: Path | None = None) -> Assignments:
    """The persisted assignments (for ``devstack ports`` when no stack runs); {} if there are none."""
    assignments, notes = load_assignments(project_root, state_dir)
    for note in notes:
        log.warning("%s", note)
    return assignments


def write_assignments(project_root: Path, assignments: Mapping[str, Mapping[str, int]],
                      state_dir: Path | None = None) -> None:
    """Replace ports.toml atomically, mode 0600, creating ``.devstack/`` (0700) when missing."""
    path = ports_file(project_root, state_dir)
    ensure_state_dir(path.parent)
    body = tomli_w.dumps({s: dict(ports) for s, ports in assignments.items() if ports})
    write_private(path, _HEADER + body)
