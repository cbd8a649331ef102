"""The command line. The only module that prints usage errors and chooses exit codes.

Exit codes: 0 ok; 1 a service failed (or devstack could not do what was asked); 2 bad config or usage;
130 / 143 / 129 after SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .config import Config, PortSpec, find_config, load_config
from .control.client import NotRunning, request
from .environment import service_env, write_env_file
from .errors import DevstackError, UsageError
from .output import Printer, use_colour
from .graph import with_dependencies
from .ports import allocate, read_assignments, release_project
from .report import env_lines, ports_rows, status_rows, table
from .state import ensure_state_dir
from .supervisor import Options, Supervisor, reap_previous_run
from .tree import RUN_VAR

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devstack",
        description="Run a multi-service development stack from devstack.toml.",
    )
    p.add_argument("--version", action="version", version=f"devstack {__version__}")
    p.add_argument("-f", "--file", type=Path, metavar="PATH",
                   help="the config file (default: the nearest devstack.toml upward, else ./Procfile)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    up = sub.add_parser("up", help="start the stack (all services, or the named ones)")
    up.add_argument("names", nargs="*", metavar="NAME", help="services to start (default: all)")
    up.add_argument("--abort-on-exit", action="store_true",
                    help="stop the whole stack as soon as any service ends")
    up.add_argument("--no-color", "--no-colour", dest="no_colour", action="store_true",
                    help="no colours (also: NO_COLOR=1)")
    up.add_argument("--no-timestamps", action="store_true", help="no HH:MM:SS before each line")

    sub.add_parser("check", help="validate the config without starting anything")

    ports = sub.add_parser("ports", help="the port table: live while a stack runs, else the assigned ports")
    ports.add_argument("--json", action="store_true", help="machine-readable output")
    status = sub.add_parser("status", help="state, pid, port, uptime and restarts of every service")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    env = sub.add_parser("env", help="the variables devstack gives a service (on top of the inherited ones)")
    env.add_argument("name", metavar="NAME", help="the service")
    env.add_argument("--all", action="store_true", help="include the inherited environment")
    env.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="devstack: %(levelname)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        config = load_config(find_config(Path.cwd(), args.file))
        if args.command == "check":
            return _check(config)
        if args.command == "up":
            return _up(config, args)
        if args.command == "ports":
            return _ports(config, args)
        if args.command == "status":
            return _status(config, args)
        if args.command == "env":
            return _env(config, args)
        raise UsageError(f"unknown command {args.command!r}")
    except DevstackError as exc:
        print(f"devstack: {exc}" if exc.exit_code != 2 or isinstance(exc, UsageError) else str(exc),
              file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _check(config: Config) -> int:
    names = ", ".join(config.services)
    n = len(config.services)
    print(f"{_shown(config.path)}: ok ({n} service{'s' if n != 1 else ''}: {names})")
    return 0


def _selected(config: Config, names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in config.services]
    if unknown:
        known = list(config.services)
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f' (did you mean "{close[0]}"?)' if close else ""))
        raise UsageError(f"no such service: {', '.join(hints)}; services in {_shown(config.path)}: "
                         f"{', '.join(known)}")
    return with_dependencies(names or list(config.services), config.services)


def _up(config: Config, args: argparse.Namespace) -> int:
    names = _selected(config, args.names)
    ensure_state_dir(config.state_dir)
    printer = Printer(names, colour=use_colour(1, args.no_colour), timestamps=not args.no_timestamps,
                      log_dir=config.state_dir / "logs")
    reap_previous_run(config, printer)
    allocation = allocate(config.root, port_requests(config), config.settings.port_range)
    try:
        for warning in allocation.warnings:
            printer.event(warning, error=True)
        write_env_file(config, allocation.ports)
        supervisor = Supervisor(config, names, printer, Options(abort_on_exit=args.abort_on_exit))
        supervisor.ports = allocation.ports
        return asyncio.run(supervisor.run())
    finally:
        release_project(config.root)


def _ports(config: Config, args: argparse.Namespace) -> int:
    try:
        services = request(config.state_dir, "GET", "/status")["services"]
        running = True
    except NotRunning:
        assigned = read_assignments(config.root)
        services = [{"name": n, "ports": assigned.get(n, {}), "scheme": s.scheme, "state": "not running"}
                    for n, s in config.services.items()]
        running = False
    if args.json:
        print(json.dumps({"running": running, "services": services}, indent=2))
        return 0
    print(table(["SERVICE", "NAME", "PORT", "URL", "PID", "STATE", "LISTENING"], ports_rows(services)))
    if not running:
        missing = [s["name"] for s in services if not s["ports"] and config.services[s["name"]].ports]
        note = f"; {', '.join(missing)} get ports on the first devstack up" if missing else ""
        print(f"(no stack running: these are the assigned ports{note})")
    return 0


def _status(config: Config, args: argparse.Namespace) -> int:
    snapshot = request(config.state_dir, "GET", "/status")
    if args.json:
        print(json.dumps(snapshot, indent=2))
        return 0
    print(table(["SERVICE", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "EXIT", "NOTE"],
                status_rows(snapshot["services"])))
    return 0


def _env(config: Config, args: argparse.Namespace) -> int:
    if args.name not in config.services:
        _selected(config, [args.name])
    ports = read_assignments(config.root)
    missing = [n for n, s in config.services.items() if s.ports and n not in ports]
    if missing:
        raise DevstackError(f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no port yet: "
                            "run devstack up once to assign ports")
    service = config.services[args.name]
    inherited = dict(os.environ) if args.all else {}
    env = service_env(config, service, ports, run_token="", inherited=inherited)
    env = {k: v for k, v in env.items() if k != RUN_VAR}
    if args.json:
        print(json.dumps(env, indent=2, sort_keys=True))
    else:
        print(env_lines(env))
    return 0


def port_requests(config: Config) -> list[tuple[str, PortSpec]]:
    """Every port of every service, running or not, so that peers' URLs are always known and stable."""
    return [(name, spec) for name, svc in config.services.items() for spec in svc.ports]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
