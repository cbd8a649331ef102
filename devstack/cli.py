"""The command line: parse, find the config, dispatch to ``commands``, and turn errors into messages
and exit codes. The only module that prints usage errors and chooses exit codes.

Exit codes: 0 ok; 1 a service failed (or devstack could not do what was asked); 2 bad config or
usage; 130 / 143 / 129 after SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .config import find_config
from .config.fields import Invalid, parse_duration
from .errors import DevstackError, UsageError
from .project import Project

__all__ = ("main",)

Command = Callable[[Project, argparse.Namespace], int]
# command -> module in devstack.commands: imported when used, so that `devstack ports` does not pay for
# what `devstack up` needs (watchfiles, the supervisor)
COMMANDS: dict[str, str] = {
    "up": "run",
    "check": "inspect",
    "ports": "inspect",
    "status": "inspect",
    "env": "inspect",
    "start": "steer",
    "stop": "steer",
    "restart": "steer",
    "down": "steer",
    "wait": "steer",
    "logs": "steer",
}

# commands that need no config: they write one, or describe the format -> module in devstack.commands
STANDALONE: dict[str, str] = {"init": "init", "schema": "schema"}


def _command(name: str) -> Command:
    module = importlib.import_module(f"devstack.commands.{COMMANDS[name]}")
    command: Command = getattr(module, name)
    return command


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except Invalid:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (try 30, 500ms, 2s, 5m)") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="devstack",
                                description="Run a multi-service development stack from devstack.toml.")
    p.add_argument("--version", action="version", version=f"devstack {__version__}")
    p.add_argument("-f", "--file", type=Path, metavar="PATH",
                   help="the config file (default: the nearest devstack.toml upward, else ./Procfile)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def json_flag(cmd: argparse.ArgumentParser) -> argparse.ArgumentParser:
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
        return cmd

    up = sub.add_parser("up", help="start the stack (all services, or the named ones and their dependencies)")
    up.add_argument("names", nargs="*", metavar="NAME", help="services to start (default: all)")
    up.add_argument("-d", "--detach", action="store_true",
                    help="run in the background; return once every service is ready")
    up.add_argument("--timeout", type=_duration, default=120.0,
                    help="with -d: how long to wait for the services to be ready (default 120s)")
    up.add_argument("--abort-on-exit", action="store_true", help="stop the whole stack when any service ends")
    up.add_argument("--no-watch", action="store_true", help="do not restart services when their files change")
    up.add_argument("--no-color", "--no-colour", dest="no_colour", action="store_true",
                    help="no colours (also: NO_COLOR=1)")
    up.add_argument("--no-timestamps", action="store_true", help="no HH:MM:SS before each line")

    sub.add_parser("check", help="validate the config without starting anything")
    init = sub.add_parser("init", help="write a devstack.toml: from ./Procfile and .env if present, "
                          "else a commented starter")
    init.add_argument("--force", action="store_true", help="replace an existing devstack.toml")
    sub.add_parser("schema", help="print the JSON Schema of devstack.toml (for editors and CI)")
    json_flag(sub.add_parser("ports", help="the port table: live while a stack runs, else as assigned"))
    json_flag(sub.add_parser("status", help="state, pid, port, uptime, restarts of every service"))
    env = json_flag(sub.add_parser("env", help="the variables devstack gives a service"))
    env.add_argument("name", metavar="NAME", help="the service")
    env.add_argument("--all", action="store_true", help="include the inherited environment")

    for name, what in (("start", "start services (and what they depend on)"),
                       ("stop", "stop services until started again"),
                       ("restart", "restart services and wait until they are ready")):
        cmd = json_flag(sub.add_parser(name, help=what))
        cmd.add_argument("names", nargs="+", metavar="NAME")
        if name == "restart":
            cmd.add_argument("--timeout", type=_duration, default=120.0,
                             help="how long to wait for them to be ready again (default 120s)")
    json_flag(sub.add_parser("down", help="stop the running stack (as Ctrl-C in its terminal does)"))
    wait = json_flag(sub.add_parser("wait", help="wait until services are ready: exit 0, or 1 on failure"))
    wait.add_argument("names", nargs="*", metavar="NAME", help="services to wait for (default: all)")
    wait.add_argument("--timeout", type=_duration, default=60.0, help="give up after this long (default 60s)")
    logs = json_flag(sub.add_parser("logs", help="recent output of the services"))
    logs.add_argument("names", nargs="*", metavar="NAME", help="services (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=0, metavar="N", help="only the last N lines")
    logs.add_argument("--since", type=_duration, metavar="DURATION", help="only lines newer than this (5m)")
    logs.add_argument("--grep", metavar="REGEX", help="only lines matching this regular expression")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="devstack: %(levelname)s: %(message)s")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in STANDALONE:
            module = importlib.import_module(f"devstack.commands.{STANDALONE[args.command]}")
            return int(getattr(module, args.command)(args))
        project = Project(find_config(Path.cwd(), args.file))
        return _command(args.command)(project, args)
    except DevstackError as exc:
        # config problems are already "file:line: key: what"; everything else gets our name first
        plain = exc.exit_code == 2 and not isinstance(exc, UsageError)
        print(str(exc) if plain else f"devstack: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (devstack logs -f | head): stop quietly, as a killed-by-SIGPIPE tool would,
        # and keep the interpreter from complaining when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
