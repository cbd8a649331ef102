"""``devstack run NAME -- CMD ARGS...``: a one-off command with exactly the environment, working directory
and ports service NAME gets (``honcho run``, ``foreman run``); ``devstack run -- CMD`` with the stack's
shared environment (every ``S_PORT``, ``S_URL``) in the current directory.

The ports are the running stack's, or else those kept in .devstack/ports.toml. The command runs as a
child in devstack's own process group, so it is in the terminal's foreground: it reads the terminal, and
Ctrl-C (SIGINT) and Ctrl-\\ (SIGQUIT) reach it from the terminal directly, while devstack ignores them
and waits (as ``os.system`` does). SIGTERM and SIGHUP sent to devstack are passed on to it, and SIGKILL
follows if it is still there after the service's ``stop_timeout``. Its processes carry a token of this
run (``DEVSTACK_RUN``); once it has ended, whatever it left behind is stopped. The exit code is the
command's (128 + N when killed by signal N).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import types
import uuid
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..errors import DevstackError, UsageError
from ..project import Project
from .common import check_names, known_ports

__all__ = ("run",)

FORWARDED = (
    signal.SIGTERM,  # sent by kill <pid>
    signal.SIGHUP,  # the terminal went away
)
FROM_TERMINAL = (
    signal.SIGINT,  # Ctrl-C: the terminal sends it to the command too
    signal.SIGQUIT,  # Ctrl-\
)
LEFTOVER_GRACE = 1.0


class CommandNotFound(DevstackError):
    exit_code = 127  # as a shell says it (it cannot be started)


def _split(words: list[str]) -> tuple[str | None, list[str]]:
    """``NAME -- CMD...``, ``-- CMD...`` or ``NAME CMD...``."""
    if words and words[0] == "--":
        name, command = None, words[1:]
    elif len(words) >= 2 and words[1] == "--":
        name, command = words[0], words[2:]
    else:
        name, command = (words[0], words[1:]) if words else (None, [])
    if not command:
        raise UsageError("devstack run: give the command after --: devstack run NAME -- CMD ARGS..., "
                         "or devstack run -- CMD ARGS... for the stack's shared environment")
    return name, command


def _environment(config: Config, name: str | None, token: str) -> tuple[dict[str, str], Path | None]:
    from ..environment import service_env, stack_env
    from ..ports.activation import LISTEN_VARS
    from ..tree import RUN_VAR

    ports = known_ports(config, assign=True)
    if name is None:
        env = {**os.environ, **stack_env(config, ports)}
        env[RUN_VAR] = token
        return env, None
    service = config.services[name]
    env = service_env(config, service, ports, token)
    for var in LISTEN_VARS:  # socket = true: the socket is the service's, not passed to the command
        env.pop(var, None)
    return env, service.cwd


def run(project: Project, args: argparse.Namespace) -> int:
    from ..process import cannot_start
    from ..tree import find_members, kill_all, pdeathsig_preexec, reap_orphans, set_child_subreaper

    config = project.config
    name, command = _split(args.words)
    if name is not None:
        check_names(config, [name])
    token = f"run-{uuid.uuid4().hex}"
    env, cwd = _environment(config, name, token)
    stop_timeout = config.services[name].stop_timeout if name is not None else 5.0
    set_child_subreaper()  # what the command daemonises comes back to us, to be found and stopped
    pending: list[int] = []  # a SIGTERM before the command has started is passed on once it has

    def hold(sig: int, _: types.FrameType | None) -> None:
        pending.append(sig)

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in FROM_TERMINAL}
    previous.update({sig: signal.signal(sig, hold) for sig in FORWARDED})
    try:
        try:
            child = subprocess.Popen(command, env=env, cwd=cwd, preexec_fn=_restore(pdeathsig_preexec()))
        except OSError as exc:
            raise CommandNotFound(cannot_start(exc, command[0])) from None

        def forward(sig: int, _: types.FrameType | None) -> None:
            if child.poll() is None:
                child.send_signal(sig)
                signal.setitimer(signal.ITIMER_REAL, stop_timeout)

        def kill(sig: int, _: types.FrameType | None) -> None:
            if child.poll() is None:
                child.kill()

        for sig in FORWARDED:
            signal.signal(sig, forward)
        previous.setdefault(signal.SIGALRM, signal.signal(signal.SIGALRM, kill))
        for held in pending:
            forward(held, None)
        code = child.wait()
        signal.setitimer(signal.ITIMER_REAL, 0)
        left = find_members(token)
        if left:
            kill_all(left, LEFTOVER_GRACE)
        reap_orphans()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def _restore(then: Callable[[], None] | None) -> Callable[[], None]:
    """The child's ``preexec_fn``: the default handling of the signals devstack ignores (ignored ones
    would be inherited), then PDEATHSIG."""

    def preexec() -> None:
        for sig in (*FROM_TERMINAL, *FORWARDED):
            signal.signal(sig, signal.SIG_DFL)
        if then is not None:
            then()

    return preexec
