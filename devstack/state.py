"""``.devstack/``: the project's state directory (mode 0700) and the record of the running supervisor.

``run.json`` names the supervisor (pid and start time, so a reused pid is never mistaken for it), the
config file it runs (a record read from another place, a copied project, is ignored), the run's token
(``DEVSTACK_RUN`` in every service's environment) and the run's cgroup. A later run uses it to reap
what a supervisor killed by SIGKILL left behind, never on its word alone: only processes that prove
they are the run's (in its cgroup, named after the token; or carrying the token) are stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .files import StateError, open_private, owner_of, private_dir, read_private, write_private

__all__ = ("RunRecord", "already_running", "boot_start", "clear_run", "ensure_state_dir",
           "hold_project_lock", "process_matches", "process_stamp", "read_run", "refuse_foreign", "write_run")

RUN_FILE = "run.json"


def ensure_state_dir(path: Path) -> Path:
    """Create ``.devstack/`` readable by the user alone, with a .gitignore so it is never committed (and
    a config's own state directory below it, ``.devstack/configs/NAME``, for a config not named
    devstack.toml). One that is there already must be a real directory of the user's own
    (``files.private_dir``), and so must each directory between."""
    from .config.discover import STATE_DIR_NAME

    top = path
    while top.name != STATE_DIR_NAME and top.parent != top:
        top = top.parent
    if top.name != STATE_DIR_NAME:
        top = path
    private_dir(top)
    ignore = top / ".gitignore"
    if not os.path.lexists(ignore):
        write_private(ignore, "*\n")
    below = top
    for part in path.relative_to(top).parts:
        below = private_dir(below / part)
    return path


def refuse_foreign(state_dir: Path, what: str) -> None:
    """Another user's stack (its ``.devstack/`` is theirs, 0700): say whose it is, rather than fail to
    read it. ``what``: what only they can do ("read its logs")."""
    try:
        owner = os.lstat(state_dir).st_uid
    except OSError:
        return
    if owner != os.getuid():
        raise StateError(f"this stack belongs to {owner_of(owner)}: only they can {what}")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# a start stamp below this is in seconds since boot (31 years of uptime); above, in wall-clock seconds
_BOOT_RELATIVE_BELOW = 1e9


def boot_start(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the machine booted; None if it is a zombie, is gone, or
    there is no /proc to tell (macOS). Read from /proc/PID/stat: a count of clock ticks since boot that
    no change of the wall clock moves. psutil's ``create_time`` adds the boot time in wall-clock terms,
    which shifts with every step of the clock (an NTP correction, a resumed laptop, ``date -s``): after
    one, a running supervisor looked dead to every command."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # after "PID (COMMAND) ": fields[0] is field 3
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19]) / _CLOCK_TICKS  # field 22, starttime


def process_stamp(pid: int) -> float:
    """What tells process ``pid`` from a later one with the same pid: its start in seconds since boot
    where /proc tells it (Linux), else psutil's ``create_time``. Raises psutil's NoSuchProcess."""
    started = boot_start(pid)
    if started is not None:
        return started
    import psutil

    return float(psutil.Process(pid).create_time())


def process_matches(pid: int, create_time: float) -> bool:
    """Is ``pid`` still the process that started at ``create_time`` (a ``process_stamp``; a wall-clock
    ``create_time`` of an earlier version is still understood), and not a reuse of its pid?"""
    if create_time < _BOOT_RELATIVE_BELOW:
        started = boot_start(pid)
        return started is not None and abs(started - create_time) < 0.05
    import psutil  # here, not above: the control client reads run.json without it (a faster start)

    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class RunRecord:
    pid: int
    create_time: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    control: str | None = None
    config: str | None = None  # the config file the run is of (absolute)
    cgroup: str | None = None  # the run's cgroup, where it has one

    @classmethod
    def for_this_process(cls, config: Path | None = None) -> RunRecord:
        return cls(pid=os.getpid(), create_time=process_stamp(os.getpid()),
                   config=str(config.absolute()) if config is not None else None)

    @property
    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time)


LOCK_FILE = "up.lock"


def already_running(record: RunRecord | None) -> str:
    """The one refusal of a second supervisor for a project, naming the first where it is known."""
    who = f" (pid {record.pid})" if record is not None and record.alive else ""
    return (f"devstack is already running for this project{who}; stop it with Ctrl-C in its terminal, "
            "or with devstack down, before starting another")


def hold_project_lock(state_dir: Path, inherited: int | None = None) -> int | None:
    """Take the project's lock for the life of this process: an exclusive flock on ``.devstack/up.lock``
    that the kernel drops when the process ends, however it ends. None if another process holds it
    (two ``devstack up`` started at the same instant: only one gets past here). The descriptor is not
    inherited by children, and is released when this process exits. ``inherited``: the descriptor of
    the lock as ``devstack up -d`` took it for this (background) process, used if it is that file."""
    path = state_dir / LOCK_FILE
    if inherited is not None:
        try:
            held, there = os.fstat(inherited), os.lstat(path)
        except OSError:
            return None
        if (held.st_dev, held.st_ino) != (there.st_dev, there.st_ino):
            return None
        os.set_inheritable(inherited, False)
        return inherited
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


_FIELDS = {f.name for f in fields(RunRecord)}


def read_any_run(state_dir: Path) -> RunRecord | None:
    """``run.json`` as it is, wherever it came from (see ``read_run``)."""
    try:
        text = read_private(state_dir / RUN_FILE, limit=1024 * 1024)
        if text is None:
            return None
        data = json.loads(text)
        record = RunRecord(**{k: v for k, v in data.items() if k in _FIELDS})
    except (StateError, ValueError, TypeError, AttributeError):
        return None
    if not (isinstance(record.pid, int) and isinstance(record.token, str) and record.token.isalnum()):
        return None
    return record


def read_run(state_dir: Path) -> RunRecord | None:
    """The record of this state directory's run, or None: none, unreadable, or another place's (a
    project copied with its ``.devstack/``, or a config's state read for another config)."""
    record = read_any_run(state_dir)
    if record is None or foreign(state_dir, record):
        return None
    return record


def foreign(state_dir: Path, record: RunRecord) -> str | None:
    """Why ``record`` is not of ``state_dir``'s project and config (a message), or None."""
    from .config.discover import state_dir_of

    if record.config is None:
        return "it names no config file (written by an older devstack)"
    if os.path.realpath(state_dir_of(Path(record.config))) != os.path.realpath(state_dir):
        return f"it is the run of {record.config} (a copied project?)"
    return None


def write_run(state_dir: Path, record: RunRecord) -> None:
    write_private(state_dir / RUN_FILE, json.dumps(asdict(record), indent=1))


def clear_run(state_dir: Path) -> None:
    try:
        (state_dir / RUN_FILE).unlink()
    except FileNotFoundError:
        pass
