"""``devstack up``: run the stack in the foreground, or start it detached (``-d``) and return once every
service is ready."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..control.client import NotRunning, request
from ..environment import write_env_file
from ..errors import DevstackError
from ..files import StateError, open_private, private_dir
from ..limits import raise_descriptor_limit
from ..output import Printer, use_colour
from ..ports import allocate, release_project
from ..project import Project
from ..state import already_running, ensure_state_dir, hold_project_lock, read_run
from ..supervisor import Options, Supervisor, reap_previous_run
from .common import port_requests, selected

__all__ = ("up", "up_detached")

DETACHED_LOG = "devstack.log"
CONTROL_DEADLINE = 30.0  # for a detached supervisor to open its control socket


def up(project: Project, args: argparse.Namespace) -> int:
    if args.detach:
        return up_detached(project, args)
    config = project.config
    names = selected(config, args.names, args.profile)
    raise_descriptor_limit(len(names))  # or say how many it needs, before anything starts
    ensure_state_dir(config.state_dir)
    if hold_project_lock(config.state_dir, inherited=args.lock_fd) is None:
        raise DevstackError(already_running(read_run(config.state_dir)))
    printer = Printer(names, colour=use_colour(1, args.no_colour), timestamps=not args.no_timestamps,
                      log_dir=config.state_dir / "logs")
    reap_previous_run(config, printer)
    allocation = allocate(config.root, port_requests(config), config.settings.port_range,
                          config=config.path)
    try:
        for warning in allocation.warnings:
            printer.event(warning, error=True)
        write_env_file(config, allocation.ports)
        options = Options(abort_on_exit=args.abort_on_exit, watch=not args.no_watch)
        supervisor = Supervisor(config, names, printer, options)
        supervisor.ports = allocation.ports
        return asyncio.run(supervisor.run())
    finally:
        release_project(config.root, config.path)


def up_detached(project: Project, args: argparse.Namespace) -> int:
    """Start ``devstack up`` in a session of its own, its output to ``.devstack/logs/devstack.log``, and
    wait until every service is ready (exit 0, the ports table) or one failed (exit 1, why).

    The project's lock is taken here, before any file is touched, and handed to the background devstack
    (``--lock-fd``): of two ``up -d`` started at once, the one that loses leaves the winner's files alone
    (its ``devstack.log`` above all)."""
    config = project.config
    # unknown names and profiles, and too low a descriptor limit, fail here, not in the background
    raise_descriptor_limit(len(selected(config, args.names, args.profile)))
    state_dir = ensure_state_dir(config.state_dir)
    lock = hold_project_lock(state_dir)
    if lock is None:
        raise DevstackError(already_running(read_run(state_dir)))
    logs = private_dir(state_dir / "logs")
    argv = [sys.executable, "-m", "devstack", "-f", str(config.path), "up", "--no-color",
            "--lock-fd", str(lock), *args.names]
    for profile in args.profile:
        argv += ["--profile", profile]
    if args.abort_on_exit:
        argv.append("--abort-on-exit")
    if args.no_watch:
        argv.append("--no-watch")
    log_path = logs / DETACHED_LOG
    out = open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    null = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(lock, True)
    try:
        pid = os.posix_spawn(sys.executable, argv, os.environ, setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)])
    finally:
        os.close(out)
        os.close(null)
        os.close(lock)  # the background devstack holds it now
    deadline = time.monotonic() + CONTROL_DEADLINE
    while True:
        record = read_run(state_dir)
        if record is not None and record.pid == pid and record.control and record.alive:
            break
        if _exited(pid) or time.monotonic() > deadline:
            print(_tail(log_path, 30), file=sys.stderr)
            raise DevstackError(f"the detached devstack (pid {pid}) did not start; its output is above "
                                f"and in {log_path}")
        time.sleep(0.05)
    try:
        # the client's own timeout must outlast the wait it asks for (the default is 10 s)
        result = request(state_dir, "GET", "/wait", params={"timeout": args.timeout},
                         timeout=args.timeout + 5)
    except NotRunning:
        print(_tail(log_path, 30), file=sys.stderr)
        raise DevstackError(f"the detached devstack (pid {pid}) stopped while starting") from None
    if result["ok"]:
        from .inspect import ports

        ports(project, argparse.Namespace(json=False))
        print(f"\nstack running in the background (pid {pid}); output in {log_path}; "
              "devstack down stops it")
        return 0
    _report_failure(project, result, pid)
    return 1


def _report_failure(project: Project, result: dict[str, Any], pid: int) -> None:
    """Which services failed and why, what devstack found about their ports, and their last lines in
    the form of everything else (``HH:MM:SS name | line``)."""
    from .steer import last_lines

    failed = result.get("failed") or result.get("waiting") or []
    why = result.get("why", {})
    reason = "timed out waiting for" if result.get("timeout") else "failed:"
    print(f"devstack: {reason} {', '.join(failed)}", file=sys.stderr)
    try:
        findings = {s["name"]: s.get("findings") or [] for s in request(
            project.state_dir, "GET", "/status")["services"]}
    except NotRunning:
        findings = {}
    width = max([len(n) for n in failed] + [len("devstack")])
    for name in failed:
        if why.get(name):
            print(f"  {why[name]}", file=sys.stderr)
        for finding in findings.get(name, []):
            print(f"  {finding['message']}", file=sys.stderr)
        print(f"last lines of {name}:", file=sys.stderr)
        print("\n".join(last_lines(project.config, name, 10, width)), file=sys.stderr)
    print(f"(the stack keeps running in the background, pid {pid}: devstack down stops it)", file=sys.stderr)


def _exited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _tail(path: os.PathLike[str], lines: int) -> str:
    try:
        with os.fdopen(open_private(Path(path), os.O_RDONLY), "rb") as f:  # never a link, nor a pipe
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except (OSError, StateError):
        return ""
    return "\n".join(text.splitlines()[-lines:])
