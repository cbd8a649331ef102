"""``devstack check``, ``ports``, ``status``, ``env``: describe a stack, running or not."""

from __future__ import annotations

import argparse
import json
import os

from ..control.client import NotRunning, request
from ..project import Project
from ..report import PORTS_HEADER, STATUS_HEADER, env_lines, ports_rows, status_rows, table
from .common import check_names, known_ports, shown

__all__ = ("check", "env", "ports", "status")


def check(project: Project, args: argparse.Namespace) -> int:
    config = project.config
    names = ", ".join(config.services)
    n = len(config.services)
    profiles = f"; profiles: {', '.join(config.profiles)}" if config.profiles else ""
    files = " + ".join(shown(p) for p in (config.path, *config.overrides))
    print(f"{files}: ok ({n} service{'s' if n != 1 else ''}: {names}{profiles})")
    return 0


def ports(project: Project, args: argparse.Namespace) -> int:
    """The running stack's table; else, from the config, the ports assigned so far."""
    try:
        services = request(project.state_dir, "GET", "/status")["services"]
        running = True
    except NotRunning:
        from ..ports.store import read_assignments

        config = project.config
        assigned = read_assignments(config.root, config.state_dir)
        services = [{"name": n, "ports": assigned.get(n, {}), "scheme": s.scheme, "state": "not running"}
                    for n, s in config.services.items()]
        running = False
    if args.json:
        print(json.dumps({"running": running, "services": services}, indent=2))
        return 0
    print(table(PORTS_HEADER, ports_rows(services)))
    if not running:
        missing = [s["name"] for s in services if not s["ports"] and config.services[s["name"]].ports]
        note = f"; {', '.join(missing)} get ports on the first devstack up" if missing else ""
        print(f"(no stack running: these are the assigned ports{note})")
    return 0


def status(project: Project, args: argparse.Namespace) -> int:
    snapshot = request(project.state_dir, "GET", "/status")
    if args.json:
        print(json.dumps(snapshot, indent=2))
        return 0
    print(table(STATUS_HEADER, status_rows(snapshot["services"])))
    tracking = snapshot.get("tracking")
    if tracking:
        print(f"\nprocesses tracked by {tracking['kind']}: {tracking['detail']}")
    return 0


def env(project: Project, args: argparse.Namespace) -> int:
    from ..environment import service_env
    from ..tree import RUN_VAR

    config = project.config
    check_names(config, [args.name])
    assigned = known_ports(config, assign=True)  # before the first up too: the ports it will use
    service = config.services[args.name]
    inherited = dict(os.environ) if args.all else {}
    values = service_env(config, service, assigned, run_token="", inherited=inherited)
    values = {k: v for k, v in values.items() if k != RUN_VAR}
    if args.json:
        print(json.dumps(values, indent=2, sort_keys=True))
    else:
        print(env_lines(values))
    return 0
