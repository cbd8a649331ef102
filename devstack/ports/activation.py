"""Socket activation (``socket = true``): devstack listens on a service's port itself and hands the
listening socket to each instance it starts, the way systemd does.

The socket is opened once per run and outlives every restart, so a connection made while the service
restarts waits in the kernel's backlog and is served by the next instance instead of being refused.
Each instance gets it as file descriptor 3 with systemd's variables::

    LISTEN_FDS=1  LISTEN_FDNAMES=api  LISTEN_PID=<the pid that runs the command>

and ``${FD}`` (3) for servers that take a descriptor: ``uvicorn --fd ${FD}``, ``gunicorn --bind
fd://${FD}``, ``hypercorn --bind fd://${FD}``. ``LISTEN_PID`` can only be known once the process exists,
so the command runs through a shell that exports its own pid and then ``exec``s the command (keeping
that pid). A ``cmd`` string that is one simple command is ``exec``ed that way too; a compound one
(``cd x && server``) should say ``exec server`` itself where the server checks ``LISTEN_PID``
(``sd_listen_fds``, gunicorn's systemd support).
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Callable

__all__ = ("LISTEN_FD", "LISTEN_VARS", "activation_env", "open_listener", "place_listener", "simple_command",
           "trampoline")

LISTEN_FD = 3  # SD_LISTEN_FDS_START: the first descriptor systemd passes
LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
BACKLOG = 1024  # connections that may wait while no instance accepts (the kernel caps it at somaxconn)

_EXPORT_PID = "LISTEN_PID=$$; export LISTEN_PID; "
_OPERATORS = "();<>|&\n"
# words after which "exec" would change what a simple command means
_NOT_EXECUTABLE = frozenset({
    "exec", "cd", "export", "set", "unset", "source", ".", "eval", "trap", "ulimit", "umask", "wait",
    "if", "for", "while", "until", "case", "!", "{", "time", "command", "builtin", "exit", "return",
})


def open_listener(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, not inherited by anything but what ``place_listener``
    puts at fd 3. SO_REUSEADDR: devstack owns this port for the whole run, and a restarted devstack must
    be able to listen again at once while connections of the last run are in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    _hold_fd3()
    return sock


def _hold_fd3() -> None:
    """Keep descriptor 3 open in devstack. Popen makes each descriptor it passes inheritable in the child
    before ``preexec_fn`` runs, which fails on a closed one; and a free fd 3 could become Popen's
    error-reporting pipe, which ``place_listener`` would then overwrite."""
    try:
        os.fstat(LISTEN_FD)
    except OSError:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if null != LISTEN_FD:
            os.dup2(null, LISTEN_FD, inheritable=False)
            os.close(null)


def place_listener(sock: socket.socket) -> Callable[[], None]:
    """A ``preexec_fn`` part that puts ``sock`` at fd 3 in the child (pass ``pass_fds=(3,)`` so that it
    survives Popen's closing of descriptors). ``dup2`` leaves the copy inheritable."""
    fd = sock.fileno()

    def preexec() -> None:
        if fd != LISTEN_FD:
            os.dup2(fd, LISTEN_FD)
        else:
            os.set_inheritable(LISTEN_FD, True)

    return preexec


def activation_env(name: str) -> dict[str, str]:
    """systemd's variables, but ``LISTEN_PID``, which ``trampoline`` sets in the child."""
    return {"LISTEN_FDS": "1", "LISTEN_FDNAMES": name}


def trampoline(argv: list[str], shell_cmd: str | None) -> list[str]:
    """``argv`` run so that ``LISTEN_PID`` is the pid of the process that runs the command: an array
    through ``sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'``; a ``cmd`` string (``shell_cmd``)
    with that prefix, and ``exec`` in front when it is one simple command."""
    if shell_cmd is None:
        return ["/bin/sh", "-c", _EXPORT_PID + 'exec "$@"', "sh", *argv]
    return ["/bin/sh", "-c", _EXPORT_PID + ("exec " if simple_command(shell_cmd) else "") + shell_cmd]


def simple_command(cmd: str) -> bool:
    """One command with arguments, which ``exec cmd`` runs the same: no operators, redirections,
    substitutions, assignments in front, or words of the shell's own."""
    if "`" in cmd or "$(" in cmd:
        return False
    try:
        lexer = shlex.shlex(cmd, posix=True, punctuation_chars=_OPERATORS)
        lexer.whitespace = " \t"  # an unquoted newline separates commands
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # unbalanced quotes: the shell will say so
        return False
    if not words or any(set(w) <= set(_OPERATORS) for w in words):
        return False
    first = words[0]
    return "=" not in first and first not in _NOT_EXECUTABLE
