"""The command line. The only module that prints usage errors and chooses exit codes.

Exit codes: 0 ok; 1 a service failed (or devstack could not do what was asked); 2 bad config or usage;
130 / 143 / 129 after SIGINT / SIGTERM / SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .config import Config, find_config, load_config
from .errors import DevstackError, UsageError
from .output import Printer, use_colour
from .state import ensure_state_dir
from .supervisor import Options, Supervisor, reap_previous_run

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
    return names or list(config.services)


def _up(config: Config, args: argparse.Namespace) -> int:
    names = _selected(config, args.names)
    ensure_state_dir(config.state_dir)
    printer = Printer(names, colour=use_colour(1, args.no_colour), timestamps=not args.no_timestamps,
                      log_dir=config.state_dir / "logs")
    reap_previous_run(config, printer)
    supervisor = Supervisor(config, names, printer, Options(abort_on_exit=args.abort_on_exit))
    return asyncio.run(supervisor.run())


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
