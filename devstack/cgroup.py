"""cgroup v2: a control group per service, so that no process of it can escape being found.

A process cannot leave its cgroup by forking, ``setsid`` or rewriting its environment (redis with
``--daemonize yes``, nginx's master, PostgreSQL's children all do the last); only a process allowed to
write the cgroup files can move it. So a service's processes are exactly its cgroup's, read from
``cgroup.procs``, it is gone when ``cgroup.events`` says ``populated 0``, and ``cgroup.kill`` ends it
whole, daemons included.

devstack makes its cgroups under the one it runs in, which must be writable by the user: root's is; a
systemd user session delegates ``user@UID.service`` to its user. The layout of one run:

    <devstack's own cgroup>/devstack-<run token>/<service>[.<instance>]

No controller is enabled (nothing is limited): cgroups are used for membership only, which is why they
may sit beside a process in a cgroup (the "no internal processes" rule is about controllers).

Everything here is a plain read or write of a cgroupfs file; ``Unavailable`` says why where no cgroup
can be made, and the caller falls back to tracking process trees (``tree``).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ("RUN_PREFIX", "Unavailable", "clear", "enter_preexec", "is_run_cgroup", "kill", "make_run_cgroup",
           "members", "own_cgroup", "populated", "remove", "run_cgroup_name",
           "unified_mount")

RUN_PREFIX = "devstack-"
_RUN_NAME = re.compile(r"devstack-[0-9a-f]{16}")


class Unavailable(Exception):
    """No cgroup can be made here; the message says why (shown to the user once)."""


def unified_mount(mountinfo: str = "/proc/self/mountinfo") -> Path | None:
    """Where the cgroup v2 hierarchy is mounted: ``/sys/fs/cgroup`` on a unified system, often
    ``/sys/fs/cgroup/unified`` on a hybrid one."""
    try:
        with open(mountinfo) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return Path(left.split()[4])
    except OSError:
        return None
    return None


def own_cgroup(proc_cgroup: str = "/proc/self/cgroup") -> str | None:
    """This process's cgroup v2 path (``0::/user.slice/...``), relative to the mount."""
    try:
        with open(proc_cgroup) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


def run_cgroup_name(token: str) -> str:
    return f"{RUN_PREFIX}{token}"


def make_run_cgroup(token: str) -> Path:
    """Create the run's cgroup under the one this process runs in, and prove that a process can be
    moved into it; ``Unavailable`` (with the reason) where that cannot be done."""
    mount = unified_mount()
    if mount is None:
        raise Unavailable("no cgroup v2 hierarchy is mounted")
    own = own_cgroup()
    if own is None:
        raise Unavailable("this process has no cgroup v2 path (/proc/self/cgroup)")
    parent = mount / own.lstrip("/")
    if own.endswith(")") or not parent.is_dir():  # "(deleted)", or a path from another namespace
        raise Unavailable(f"devstack's cgroup {own} is not visible under {mount}")
    if not (os.access(parent, os.W_OK) and os.access(parent / "cgroup.procs", os.W_OK)):
        raise Unavailable(f"devstack's cgroup {own} is not delegated to this user (not writable)")
    path = parent / run_cgroup_name(token)
    try:
        path.mkdir(mode=0o755)
    except OSError as exc:
        raise Unavailable(f"cannot create a cgroup under {parent}: {exc.strerror}") from None
    try:
        _probe(path)
    except OSError as exc:
        remove(path)
        raise Unavailable(f"cannot move a process into a cgroup under {parent}: {exc.strerror}") from None
    return path


def _probe(path: Path) -> None:
    """Start a process straight into ``path`` (the way services will be) and wait for it."""
    probe = path / "probe"
    probe.mkdir()
    try:
        done = subprocess.run(["true"], preexec_fn=enter_preexec(probe), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise OSError(errno.EACCES, "permission denied")
    finally:
        _rmdir(probe)


def enter_preexec(path: Path) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into ``path`` before it runs the command, so that even its
    first fork is inside; a child that cannot be moved does not run (exit 1) rather than escape."""
    target = os.fsencode(path / "cgroup.procs")

    def preexec() -> None:
        try:
            fd = os.open(target, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
        except OSError:
            os._exit(1)

    return preexec


def _pids(path: Path) -> Iterator[int]:
    with open(path / "cgroup.procs", "rb") as f:
        for line in f.read().split():
            yield int(line)


def members(path: Path) -> list[int]:
    """Every pid in ``path`` and the cgroups below it (none once it is gone)."""
    pids: list[int] = []
    try:
        for dirpath, _, _ in os.walk(path):
            try:
                pids.extend(_pids(Path(dirpath)))
            except FileNotFoundError:
                continue
    except OSError:
        return pids
    return pids


def populated(path: Path) -> bool:
    """Does any process live in ``path`` or below it? (``cgroup.events``: one read, whatever the size.)"""
    try:
        with open(path / "cgroup.events", "rb") as f:
            for line in f:
                if line.startswith(b"populated "):
                    return line.split()[1] == b"1"
    except OSError:
        return False
    return False


def kill(path: Path) -> None:
    """SIGKILL every process of ``path`` and below, at once (``cgroup.kill``, Linux 5.14+), or one by
    one where that file does not exist (until none is left to find, for at most a second)."""
    try:
        fd = os.open(path / "cgroup.kill", os.O_WRONLY)
    except FileNotFoundError:
        if not path.exists():
            return
    else:
        try:
            os.write(fd, b"1")
            return
        finally:
            os.close(fd)
    deadline = time.monotonic() + 1.0
    while (pids := members(path)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        time.sleep(0.01)


def clear(path: Path, timeout: float = 1.0) -> bool:
    """``kill``, wait (up to ``timeout``) for every process to be gone, ``remove``."""
    kill(path)
    deadline = time.monotonic() + timeout
    while populated(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return remove(path)


def remove(path: Path) -> bool:
    """Remove ``path`` and the cgroups below it, deepest first; False if one still holds a process."""
    ok = True
    try:
        for dirpath, _, _ in os.walk(path, topdown=False):
            ok = _rmdir(Path(dirpath)) and ok
    except OSError:
        return False
    return ok


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def is_run_cgroup(path: str, token: str) -> Path | None:
    """``path`` (read from run.json) as a run cgroup of ``token`` that devstack made, or None. The proof
    that killing its processes is right lies in the cgroup itself: only devstack names cgroups
    ``devstack-<token>``, it must be under the cgroup v2 mount, a real directory (no symlink on the
    way) and owned by this user."""
    mount = unified_mount()
    if mount is None or not path:
        return None
    candidate = Path(path)
    if candidate.name != run_cgroup_name(token) or not _RUN_NAME.fullmatch(candidate.name):
        return None
    try:
        real = Path(os.path.realpath(candidate))
        real.relative_to(mount)
        st = os.stat(real)
    except (OSError, ValueError):
        return None
    if real != candidate or st.st_uid != os.getuid() or not (real / "cgroup.procs").is_file():
        return None
    return real
