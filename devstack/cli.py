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

from .arguments import parser as _parser
from .config import find_config
from .entry import interrupted
from .errors import DevstackError, UsageError
from .project import Project

__all__ = ("main",)

Command = Callable[[Project, argparse.Namespace], int]
# command -> module in devstack.commands: imported when used, so that `devstack ports` does not pay for
# what `devstack up` needs (watchfiles, the supervisor)
COMMANDS: dict[str, str] = {
    "up": "run",
    "check": "inspect",
    "config": "show",
    "run": "oneoff",
    "attach": "attach",
    "ports": "inspect",
    "status": "inspect",
    "env": "inspect",
    "export": "export",
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
        return interrupted()
    except BrokenPipeError:
        # the reader went away (devstack logs -f | head): stop quietly, as a killed-by-SIGPIPE tool would,
        # and keep the interpreter from complaining when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
