"""Process trees: which processes belong to a service, signalling them, and making sure none survive.

A service's processes are its process group (each service runs in a session of its own) plus anything
that left the group (a daemon that called ``setsid``) but still carries the run's ``DEVSTACK_RUN`` and the
service's ``DEVSTACK_SERVICE`` in its environment. On Linux the supervisor is a child subreaper, so
daemons that double-fork are re-parented to it instead of to init: they stay its descendants, where they
are found cheaply, and the supervisor reaps them when they exit.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping

import psutil

__all__ = (
    "INSTANCE_VAR",
    "RUN_VAR",
    "SERVICE_VAR",
    "find_members",
    "kill_all",
    "members_by_service",
    "pdeathsig_preexec",
    "reap_orphans",
    "register_child",
    "set_child_subreaper",
    "signal_all",
    "unregister_child",
)

log = logging.getLogger("devstack.tree")

RUN_VAR = "DEVSTACK_RUN"
SERVICE_VAR = "DEVSTACK_SERVICE"
INSTANCE_VAR = "DEVSTACK_INSTANCE"  # tells apart two instances of one service (reload = "overlap")
IS_LINUX = sys.platform.startswith("linux")
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36

# Children whose exit status belongs to someone else (asyncio's child watcher, a Popen): the orphan
# reaper must never wait for them.
_known_children: set[int] = set()


def _prctl() -> Callable[..., int] | None:
    if not IS_LINUX:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
        return prctl
    except (OSError, AttributeError):
        return None


def set_child_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux); False where it is not available."""
    prctl = _prctl()
    return bool(prctl and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def pdeathsig_preexec(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send ``sig`` to the child when the supervisor dies."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died between fork and prctl
            os._exit(1)

    return preexec


def register_child(pid: int) -> None:
    _known_children.add(pid)


def unregister_child(pid: int) -> None:
    _known_children.discard(pid)


def reap_orphans() -> int:
    """Wait for exited children that are not ours to wait for: daemons re-parented to us as subreaper."""
    reaped = 0
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return 0
    for child in children:
        if child.pid in _known_children:
            continue
        try:
            pid, _ = os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if pid:
            reaped += 1
    return reaped


def _candidates(everywhere: bool) -> Iterator[psutil.Process]:
    if everywhere or not IS_LINUX:
        yield from psutil.process_iter()
        return
    try:
        yield from psutil.Process().children(recursive=True)
    except psutil.Error:
        return


def _live(everywhere: bool) -> Iterator[tuple[psutil.Process, int]]:
    """Live candidates (not this process, not zombies) with their process group."""
    me = os.getpid()
    for proc in _candidates(everywhere):
        if proc.pid == me:
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                yield proc, os.getpgid(proc.pid)
        except (psutil.Error, OSError):
            continue


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except (psutil.Error, OSError):
        return {}


def find_members(run: str, service: str | None = None, pgids: Iterable[int] = (),
                 *, everywhere: bool = False, instance: str | None = None) -> list[psutil.Process]:
    """Live processes of a run (or of one service of it): in one of ``pgids``, or carrying the run's
    markers in their environment (and ``instance``'s, when given). ``everywhere`` searches the whole
    machine instead of this process's descendants (for leftovers of a supervisor that died)."""
    groups = set(pgids)
    found = []
    for proc, pgid in _live(everywhere):
        if pgid in groups:
            found.append(proc)
            continue
        env = _environ(proc)
        if env.get(RUN_VAR) == run and (service is None or env.get(SERVICE_VAR) == service) \
                and (instance is None or env.get(INSTANCE_VAR) == instance):
            found.append(proc)
    return found


def members_by_service(run: str, groups: Mapping[str, int]) -> dict[str, list[psutil.Process]]:
    """``find_members`` for several services at once (service -> its process group), in one pass over
    this process's descendants instead of one pass per service."""
    by_pgid = {pgid: name for name, pgid in groups.items()}
    found: dict[str, list[psutil.Process]] = {name: [] for name in groups}
    for proc, pgid in _live(False):
        name = by_pgid.get(pgid)
        if name is None:
            env = _environ(proc)
            name = env.get(SERVICE_VAR) if env.get(RUN_VAR) == run else None
        if name in found:
            found[name].append(proc)
    return found


def signal_all(procs: Iterable[psutil.Process], sig: int, pgids: Iterable[int] = ()) -> None:
    """Send ``sig`` to each process group, and to each process outside those groups (a process in one
    would otherwise get it twice: a SIGTERM handler run twice is a traceback in many programs). Ones
    already gone are skipped."""
    groups = set(pgids)
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in procs:
        try:
            if groups and os.getpgid(proc.pid) in groups:
                continue
            proc.send_signal(sig)
        except (psutil.Error, ProcessLookupError):
            pass


def kill_all(procs: list[psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM, wait up to ``grace`` seconds, SIGKILL what is left; returns what survived even that.
    Blocking: for the guardian and for ``devstack down`` of a dead run, not for the event loop."""
    signal_all(procs, signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        signal_all(alive, signal.SIGKILL)
        _, alive = psutil.wait_procs(alive, timeout=1.0)
    return alive
