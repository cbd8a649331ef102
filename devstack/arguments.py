"""The command line's grammar and its help: every subcommand with its summary, what it does, what each
argument means, the formats and defaults, and an example. ``cli.py`` parses with it and dispatches."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__
from .config.fields import Invalid, parse_duration

__all__ = ("READY_TIMEOUT", "parser")

# `up -d`, `restart` and `wait` all wait for services to be ready: one default for the three, longer
# than a health check's default start_period (60 s) plus its retries, so that a slow first start is
# reported as what it is (never became healthy) rather than as a timeout of the command
READY_TIMEOUT = 120.0

DURATIONS = "a plain number is seconds; or 500ms, 2s, 5m, 1m30s"
FILE_HELP = "the config file (default: the nearest devstack.toml upward, else ./Procfile)"


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except Invalid:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (try 30, 500ms, 2s, 5m)") from None


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples keep their line breaks; option help wraps as usual."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devstack", formatter_class=_Help,
        description="Run a multi-service development stack from devstack.toml: every service on its own "
                    "stable\nloopback port, started in dependency order, restarted when its files change.",
        epilog="examples:\n  devstack up            run the stack in this terminal (Ctrl-C stops it)\n"
               "  devstack up -d         in the background; devstack down stops it\n"
               "  devstack status        from another terminal\n\n"
               "Run devstack COMMAND --help for a command's options. Durations: " + DURATIONS + ".")
    p.add_argument("--version", action="version", version=f"devstack {__version__}")
    p.add_argument("-f", "--file", type=Path, metavar="PATH", help=FILE_HELP)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str, examples: str, *,
                file_flags: tuple[str, ...] = ("-f", "--file"), file_help: str = FILE_HELP,
                json: bool = False) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=summary, formatter_class=_Help,
                             description=f"{summary[0].upper()}{summary[1:]}.\n\n{description}",
                             epilog="examples:\n" + examples)
        if file_flags:
            # SUPPRESS: given before the command instead (devstack -f x.toml check), it is kept
            cmd.add_argument(*file_flags, type=Path, metavar="PATH", default=argparse.SUPPRESS,
                             help=file_help)
        if json:
            cmd.add_argument("--json", action="store_true", help="machine-readable output")
        return cmd

    def names(cmd: argparse.ArgumentParser, what: str, *, required: bool = False) -> None:
        cmd.add_argument("names", nargs="+" if required else "*", metavar="NAME", help=what)

    def timeout(cmd: argparse.ArgumentParser, what: str) -> None:
        cmd.add_argument("--timeout", type=_duration, default=READY_TIMEOUT, metavar="DURATION",
                         help=f"{what} ({DURATIONS}; default {READY_TIMEOUT:g}s)")

    up = command(
        "up", "start the stack: every service, or the named ones and what they depend on",
        "In the foreground, one merged log stream; once every service is ready, a line with each\n"
        "service's URL. Ctrl-C stops everything and leaves nothing running. With -d, the stack runs\n"
        "in the background (its output in .devstack/logs/devstack.log) and the command returns\n"
        "once every service is ready (exit 0, the port table) or one failed (exit 1, why).",
        "  devstack up\n  devstack up api           api and everything it depends on\n"
        "  devstack up -d --timeout 5m\n  devstack up --profile debug")
    names(up, "a service to start, with what it depends on, whatever its profiles (default: all)")
    up.add_argument("--profile", action="append", default=[], metavar="PROFILE",
                    help="also start the services of this profile (repeatable, or a,b; default: "
                         "$DEVSTACK_PROFILES; * is every profile)")
    up.add_argument("-d", "--detach", action="store_true",
                    help="run in the background; return once every service is ready")
    timeout(up, "with -d: how long to wait for every service to be ready")
    up.add_argument("--abort-on-exit", action="store_true", help="stop the whole stack when any service ends")
    up.add_argument("--no-watch", action="store_true", help="do not restart services when their files change")
    up.add_argument("--no-color", "--no-colour", dest="no_colour", action="store_true",
                    help="no colours (also: NO_COLOR=1)")
    up.add_argument("--no-timestamps", action="store_true", help="no HH:MM:SS before each line")
    up.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)  # up -d hands its project lock on

    oneoff = command(
        "run", "run a one-off command with a service's environment, cwd and ports",
        "NAME -- CMD: exactly the environment, working directory and ports service NAME gets;\n"
        "-- CMD: the stack's shared environment (every S_PORT, S_URL) in the current directory.\n"
        "Ports come from the running stack, else from .devstack/ports.toml. The terminal and stdin\n"
        "are the command's; its exit code is devstack's; nothing it started is left running.",
        "  devstack run api -- python manage.py migrate\n  devstack run db -- psql\n"
        "  devstack run -- env")
    oneoff.add_argument("words", nargs=argparse.REMAINDER, metavar="[NAME] -- CMD ...",
                        help="the service (optional), then -- and the command with its arguments")
    attach = command(
        "attach", "connect this terminal to an interactive service (a debugger, a REPL, a prompt)",
        "For a service with interactive = true, which runs on a terminal of its own: keys go to it (Ctrl-C\n"
        "included), its screen comes here, the window size follows this terminal's. Ctrl-P Ctrl-Q\n"
        "detaches and leaves it running.",
        "  devstack attach api")
    attach.add_argument("name", metavar="NAME", help="the service")
    command("check", "validate the config without starting anything",
            "Reads devstack.toml (or the Procfile) and reports every problem at once, each with its file,\n"
            "line and key (exit 2), or prints ok and the services (exit 0).",
            "  devstack check\n  devstack check -f other/devstack.toml")
    command("config", "print the configuration as devstack runs it",
            "devstack.local.toml (your own, never committed) merged over devstack.toml: tables key by\n"
            "key, any other value replaced; services with enabled = false left out. Checked first.",
            "  devstack config\n  devstack config --json", json=True)
    init = command(
        "init", "write a devstack.toml for this directory",
        "From the Procfile in the current directory when there is one (a service per line, port = false\n"
        "for a line that never mentions PORT, except web), else a commented starter to edit. The file\n"
        "passes devstack check. An existing devstack.toml is replaced only with --force.",
        "  devstack init\n  devstack init --force\n  devstack init -f sub/devstack.toml",
        file_help="where to write it (default: ./devstack.toml; the Procfile is read beside it)")
    init.add_argument("--force", action="store_true", help="replace an existing devstack.toml")
    command("schema", "print the JSON Schema of devstack.toml (for editors and CI)",
            "Draft 2020-12, with a description for every key; editors using taplo (Even Better TOML)\n"
            "complete and check devstack.toml with it.",
            "  devstack schema > devstack.schema.json", file_flags=())
    command("ports", "the port table: live while a stack runs, else as assigned",
            "SERVICE, NAME (of a named port), PORT, URL, PID, STATE and where the service really listens,\n"
            "with a note for each finding (a port ignored, a service exposed on 0.0.0.0).",
            "  devstack ports\n  devstack ports --json", json=True)
    command("status", "state, pid, port, uptime, restarts and last exit of every service",
            "Asks the running stack (exit 1 when none runs). RESTARTS counts crash restarts (and those\n"
            "after a failed health check), RELOADS the ones asked for (a file change, devstack restart);\n"
            "EXIT is the last exit code, or the signal that ended it (SIGTERM); NOTE says why a service\n"
            "is not ready, and every finding about its ports.",
            "  devstack status\n  devstack status --json", json=True)
    env = command("env", "the variables devstack gives a service",
                  "PORT, HOST, every service's S_PORT / S_URL, env files and env, as the service gets them\n"
                  "(ports are assigned the first time they are needed, here too, and kept in\n"
                  ".devstack/ports.toml).",
                  "  devstack env api\n  eval \"$(devstack env api)\"; echo $API_URL", json=True)
    env.add_argument("name", metavar="NAME", help="the service")
    env.add_argument("--all", action="store_true", help="include the inherited environment")

    export = command(
        "export", "write the stack as docker compose, Kubernetes or systemd files",
        "From the same devstack.toml: compose.yaml; Kubernetes Deployments, Jobs, Services and\n"
        "ConfigMaps; or systemd user units (a .service per service, .socket, a .target). Every key the\n"
        "target has no equivalent for gives a warning naming it; --strict makes them an error (exit 1,\n"
        "nothing written). A file in DIR that devstack export did not write is never replaced.",
        "  devstack export compose && docker compose -f export/compose/compose.yaml up\n"
        "  devstack export kubernetes -o k8s --strict\n"
        "  devstack export systemd -o ~/.config/systemd/user")
    export.add_argument("target", choices=("compose", "kubernetes", "systemd"), help="what to write")
    export.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="where to write (default: export/TARGET beside devstack.toml)")
    export.add_argument("--profile", action="append", default=[], metavar="PROFILE",
                        help="kubernetes and systemd: also export the services of this profile "
                             "(repeatable, or a,b; default: $DEVSTACK_PROFILES; * is every profile); "
                             "compose files carry every profile")
    export.add_argument("--strict", action="store_true",
                        help="exit 1, writing nothing, if there is a warning")

    start = command("start", "start services (and what they depend on)",
                    "Starts services of the running stack that were stopped (devstack stop), have ended, or\n"
                    "were left out (devstack up NAME, or a profile that is not active).",
                    "  devstack start worker", json=True)
    names(start, "a service to start", required=True)
    stop = command("stop", "stop services until started again",
                   "Stops services of the running stack (their stop_signal, then SIGKILL after\n"
                   "stop_timeout); the others keep running. devstack start brings them back.",
                   "  devstack stop worker", json=True)
    names(stop, "a service to stop", required=True)
    restart = command("restart", "restart services and wait until they are ready",
                      "Stops and starts each named service of the running stack (or overlaps, with\n"
                      'reload = "overlap"), then waits for it to be ready; exit 1 if one is not.',
                      "  devstack restart api\n  devstack restart api web --timeout 30", json=True)
    names(restart, "a service to restart", required=True)
    timeout(restart, "how long to wait for them to be ready again")
    command("down", "stop the running stack (as Ctrl-C in its terminal does)",
            "Needs no config: asks the stack running for this project to stop, and waits until it has.",
            "  devstack down", json=True)
    wait = command("wait", "wait until services are ready: exit 0, or 1 on failure",
                   "Returns once every named service is ready (healthy, or running for one with no check),\n"
                   "with exit 1 as soon as one fails or when time runs out.",
                   "  devstack wait\n  devstack wait api --timeout 30", json=True)
    names(wait, "a service to wait for (default: all)")
    timeout(wait, "give up after this long")
    logs = command("logs", "recent output of the services",
                   "From the running stack's memory (the last 512 KiB of each service), else from\n"
                   ".devstack/logs/. -f here means --follow; the config file is --file.",
                   "  devstack logs -n 50 api\n  devstack logs -f --grep ERROR\n  devstack logs --since 5m",
                   file_flags=("--file",), json=True)
    names(logs, "a service whose lines to show (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=0, metavar="N", help="only the last N lines")
    logs.add_argument("--since", type=_duration, metavar="DURATION",
                      help=f"only lines newer than this ({DURATIONS})")
    logs.add_argument("--grep", metavar="REGEX", help="only lines matching this regular expression")
    return p
