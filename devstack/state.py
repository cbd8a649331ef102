"""``.devstack/``: the project's state directory (mode 0700) and the record of the running supervisor.

``run.json`` names the supervisor (pid and start time, so a reused pid is never mistaken for it), the
run's token (``DEVSTACK_RUN`` in every service's environment) and each service's process group with its
leader's start time. A later run uses it to refuse a second supervisor and to reap what a supervisor
killed by SIGKILL left behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import StateError, open_private, owner_of, private_dir, read_private, write_private

__all__ = ("RunRecord", "already_running", "clear_run", "ensure_state_dir", "hold_project_lock",
           "process_matches", "read_run", "refuse_foreign", "write_run")

RUN_FILE = "run.json"


def ensure_state_dir(path: Path) -> Path:
    """Create ``.devstack/`` readable by the user alone, with a .gitignore so it is never committed. One
    that is there already must be a real directory of the user's own (``files.private_dir``)."""
    private_dir(path)
    ignore = path / ".gitignore"
    if not os.path.lexists(ignore):
        write_private(ignore, "*\n")
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


def process_matches(pid: int, create_time: float) -> bool:
    """Is ``pid`` still the process that started at ``create_time`` (and not a reuse of its pid)?"""
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
    groups: dict[str, list[float]] = field(default_factory=dict)  # service -> [pgid, create_time]
    control: str | None = None

    @classmethod
    def for_this_process(cls) -> RunRecord:
        import psutil

        return cls(pid=os.getpid(), create_time=psutil.Process().create_time())

    @property
    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time)

    def live_groups(self) -> list[int]:
        """Process groups of this record whose leader is still the process that was recorded."""
        return [int(pgid) for pgid, started in self.groups.values() if process_matches(int(pgid), started)]


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


def read_run(state_dir: Path) -> RunRecord | None:
    try:
        text = read_private(state_dir / RUN_FILE, limit=1024 * 1024)
        return RunRecord(**json.loads(text)) if text is not None else None
    except (StateError, ValueError, TypeError):
        return None


def write_run(state_dir: Path, record: RunRecord) -> None:
    write_private(state_dir / RUN_FILE, json.dumps(asdict(record), indent=1))


def clear_run(state_dir: Path) -> None:
    try:
        (state_dir / RUN_FILE).unlink()
    except FileNotFoundError:
        pass
