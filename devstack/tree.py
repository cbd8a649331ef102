"""Process trees: the fallback tracking (where no cgroup can be made), signalling, and leftovers.

On Linux the supervisor is a child subreaper, so every process that leaves a service's tree (a daemon
that double-forks) is re-parented to it instead of to init: the run is exactly the supervisor's
descendants (its own helpers aside), and it reaps them when they exit. ``TreeTracker`` attributes each
descendant to a service instance when it first sees it, and remembers that for the process's life
(by pid and start time): by its process group (each service runs in a session of its own), by its
parent, by the run's ``DEVSTACK_RUN`` / ``DEVSTACK_SERVICE`` / ``DEVSTACK_INSTANCE`` markers in its
environment, and for a process re-parented before it was seen (its markers erased, as ``setproctitle``
does), by what just happened: the one service that lost a process (its parent) shortly before, else
the service that started last, shortly before (and the run's alone if that is ambiguous). One look at
the process table serves every service (it is cached for ``FRESH`` seconds), so stopping 50 services
costs what stopping one does.

``find_members`` (the environment markers, machine-wide) is the third net, for the guardian and for the
leftovers of a supervisor that died.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator

import psutil

__all__ = (
    "INSTANCE_VAR",
    "RUN_VAR",
    "SERVICE_VAR",
    "TreeTracker",
    "find_members",
    "kill_all",
    "pdeathsig_preexec",
    "reap_orphans",
    "register_child",
    "set_child_subreaper",
    "signal_all",
    "signal_groups",
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


def signal_all(procs: Iterable[psutil.Process], sig: int, pgids: Iterable[int] = ()) -> None:
    """Send ``sig`` to each process group, and to each process outside those groups (a process in one
    would otherwise get it twice: a SIGTERM handler run twice is a traceback in many programs). Ones
    already gone are skipped."""
    groups = set(pgids)
    _signal_groups(groups, sig)
    for proc in procs:
        try:
            if groups and os.getpgid(proc.pid) in groups:
                continue
            proc.send_signal(sig)  # (psutil: never a process that reused the pid)
        except (psutil.Error, ProcessLookupError):
            pass


def _signal_groups(groups: set[int], sig: int) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
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


def signal_groups(pids: Iterable[int], sig: int, groups: set[int]) -> None:
    """``signal_all`` for pids: ``sig`` to each process group in ``groups``, and to each pid outside
    them."""
    _signal_groups(groups, sig)
    for pid in pids:
        try:
            if groups and os.getpgid(pid) in groups:
                continue
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


# -- the fallback tracking --------------------------------------------------------------------------

FRESH = 0.015  # how long one look at the process table serves every question about it
BUSY = 5.0  # seconds after a service's start or end in which its tree is looked at often
# An orphan (re-parented to devstack before it was seen with its parent: redis --daemonize, nginx and
# pg_ctl all fork, setsid and exit within milliseconds) belongs to the one service that started or
# whose first process ended within BEFORE before it was first seen (or AFTER after: exits are heard a
# moment late). If two did, nothing tells whose it is: it is the run's only, stopped with the stack.
BEFORE, AFTER, DECIDE = 1.0, 0.05, 0.1

Entry = tuple[int, int, int]  # ppid, pgid, start time (clock ticks; pid and start time name a process)


def _table_linux() -> dict[int, Entry]:
    table: dict[int, Entry] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2:].split()
        if rest[0] in (b"Z", b"X"):  # a zombie is gone, whoever reaps it
            continue
        table[int(name)] = (int(rest[1]), int(rest[2]), int(rest[19]))
    return table


def _table_psutil() -> dict[int, Entry]:
    table: dict[int, Entry] = {}
    for proc in psutil.process_iter(["ppid", "create_time", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            table[proc.pid] = (proc.info["ppid"], os.getpgid(proc.pid), int(proc.info["create_time"] * 100))
        except (psutil.Error, OSError, TypeError):
            continue
    return table


def process_table() -> dict[int, Entry]:
    """Every live process: pid -> (ppid, pgid, start time)."""
    if IS_LINUX:
        try:
            return _table_linux()
        except OSError:
            pass
    return _table_psutil()


class TreeTracker:
    """This process's descendants, each attributed to a slot key (``service/instance/seq``) or to the
    run only (None). devstack's own children that are not a service's (the guardian, health-check
    commands: registered with ``register_child``) are never part of the run. ``on_new(pid, start)``
    hears of each process the first time it is seen (the guardian keeps them)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.me = os.getpid()
        self.on_new: Callable[[int, int], None] | None = None
        self._leaders: dict[int, str] = {}  # first process (and process group) -> its slot
        self._seen: dict[tuple[int, int], str | None] = {}
        self._pending: dict[tuple[int, int], float] = {}  # orphans not attributed yet -> first seen
        self._started: dict[str, float] = {}  # slot -> when its first process started
        self._ended: dict[str, float] = {}  # slot -> when its first process ended
        self._at = -1.0
        self._members: dict[str | None, list[int]] = {}

    def bind(self, key: str, pid: int) -> None:
        # seen before it was bound (a look between the spawn and now): what was guessed is forgotten
        wrong = {k for (p, _), k in self._seen.items() if p == pid}
        self._seen = {i: k for i, k in self._seen.items() if k not in wrong and i[0] != pid}
        self._leaders[pid] = key
        self._started[key] = time.monotonic()
        self._at = -1.0

    def ended(self, key: str) -> None:
        """The slot's first process has exited: a daemon it left is re-parented to devstack now, so
        look at once, while the exit is the one that explains it."""
        self._ended[key] = time.monotonic()
        self.refresh()

    def forget(self, key: str) -> None:
        for pid in [p for p, k in self._leaders.items() if k == key]:
            del self._leaders[pid]
        self._started.pop(key, None)
        self._ended.pop(key, None)

    def members_unattributed(self) -> list[int]:
        self.refresh(FRESH)
        return list(self._members.get(None, ()))

    def undecided(self) -> bool:
        """Is an orphan waiting to be attributed?"""
        return bool(self._pending)

    def pace(self) -> float:
        """How soon to look again: often while services start or end (a daemon they hand over to is
        best seen before it is re-parented), seldom when nothing happens."""
        latest = max([*self._started.values(), *self._ended.values()], default=-1e9)
        return 0.1 if time.monotonic() - latest < BUSY or self._pending else 2.0

    def members(self, key: str | None, fresh: float = FRESH) -> list[int]:
        """Live pids of slot ``key``, or of the whole run (None), from a look at most ``fresh`` old."""
        self.refresh(fresh)
        if key is None:
            return [pid for pids in self._members.values() for pid in pids]
        return list(self._members.get(key, ()))

    def refresh(self, fresh: float = 0.0) -> None:
        now = time.monotonic()
        if now - self._at <= fresh:
            return
        table = process_table()
        self._at = now = time.monotonic()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        skip = {p for p in _known_children if p not in self._leaders}
        owner: dict[int, str | None] = {}
        members: dict[str | None, list[int]] = {}
        seen: dict[tuple[int, int], str | None] = {}
        pending: dict[tuple[int, int], float] = {}
        todo = [p for p in children.get(self.me, ()) if p not in skip]
        while todo:
            pid = todo.pop()
            ppid, pgid, start = table[pid]
            ident = (pid, start)
            if ident in self._seen:
                key = self._seen[ident]
            else:
                if ident not in self._pending and self.on_new is not None:
                    self.on_new(pid, start)
                key = self._attribute(pid, ppid, pgid, owner)
                if key is None and ppid == self.me:
                    first_seen = self._pending.get(ident, now)
                    key, decided = self._orphan(first_seen, now)
                    if not decided:
                        pending[ident] = first_seen
            if ident not in pending:
                seen[ident] = key
            owner[pid] = key
            members.setdefault(key, []).append(pid)
            todo.extend(children.get(pid, ()))
        self._seen, self._pending, self._members = seen, pending, members

    def _attribute(self, pid: int, ppid: int, pgid: int, owner: dict[int, str | None]) -> str | None:
        if pid in self._leaders:
            return self._leaders[pid]
        if pgid in self._leaders:
            return self._leaders[pgid]
        if ppid != self.me and ppid in owner:
            return owner[ppid]
        return self._by_markers(pid)

    def _by_markers(self, pid: int) -> str | None:
        try:
            env = psutil.Process(pid).environ()
        except (psutil.Error, OSError):
            return None
        if env.get(RUN_VAR) != self.token or SERVICE_VAR not in env:
            return None
        prefix = f"{env[SERVICE_VAR]}/{env.get(INSTANCE_VAR, '')}/"
        keys = [k for k in self._leaders.values() if k.startswith(prefix)]
        return max(keys, key=lambda k: int(k.rsplit("/", 1)[1])) if keys else None

    def _orphan(self, first_seen: float, now: float) -> tuple[str | None, bool]:
        """An orphan first seen at ``first_seen``: its slot, and whether that is final."""
        if now - first_seen < DECIDE:
            return None, False
        near = {k for k, t in [*self._started.items(), *self._ended.items()]
                if first_seen - BEFORE <= t <= first_seen + AFTER}
        if len({k.split("/", 1)[0] for k in near}) != 1:
            return None, True
        return max(near, key=lambda k: int(k.rsplit("/", 1)[1])), True  # its latest instance
