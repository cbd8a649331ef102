"""devstack's own files and directories, in places a repository (it can commit ``.devstack/``) or another
user may have filled first: nothing is followed through a symbolic link (``O_NOFOLLOW``, ``lstat``),
nothing is taken to be what its name says until checked, and nothing devstack did not create is ever
chmod-ed. Every failure is a ``StateError`` naming the path, what is wrong and what to do."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from .errors import DevstackError

__all__ = ("StateError", "describe", "open_private", "owner_of", "private_dir", "read_private",
           "state_error", "write_private")

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class StateError(DevstackError):
    """A state file or directory that cannot be used as it is."""


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"))


def describe(mode: int) -> str:
    """What a file is, in words (from its ``st_mode``)."""
    return next((what for test, what in _KINDS if test(mode)), "a special file")


def owner_of(uid: int) -> str:
    """A user's name (and uid), for messages."""
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


_HINTS = {
    errno.EROFS: "the file system is read-only: devstack keeps its state (ports, logs, the control socket) "
                 "in .devstack/ beside the config; run it from a writable copy of the project",
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is used up: free some space",
    errno.EACCES: "permission denied: it must be yours and writable by you",
    errno.EPERM: "not permitted: it must be yours and writable by you",
    errno.ELOOP: "it is a symbolic link, which devstack never follows: remove it and run again",
}


def state_error(path: Path, exc: OSError, doing: str = "write") -> StateError:
    """``cannot write PATH: why; what to do`` for an ``OSError`` met on one of devstack's files."""
    hint = _HINTS.get(exc.errno or 0, exc.strerror or str(exc))
    return StateError(f"cannot {doing} {path}: {hint}")


def _refuse_unless_own_dir(path: Path, st: os.stat_result, private: bool) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise StateError(f"{path} is a symbolic link (to {os.readlink(path)}); devstack keeps its state "
                         f"only in a real directory of its own: remove the link (rm {path}) and run again")
    if not stat.S_ISDIR(st.st_mode):
        raise StateError(f"{path} is {describe(st.st_mode)}, not a directory: remove it and run again")
    if st.st_uid != os.getuid():
        raise StateError(f"{path} belongs to {owner_of(st.st_uid)}, not to you: devstack uses only a "
                         f"state directory of your own")
    if private and st.st_mode & 0o077:
        raise StateError(f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}, not 0700)")
    if st.st_mode & 0o002:
        raise StateError(f"{path} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}): make it "
                         f"yours alone (chmod 700 {path}) or remove it, and run again")


def private_dir(path: Path, *, private: bool = False) -> Path:
    """``path`` as a directory of the user's own: created mode 0700 when missing; when it exists it must
    be a real directory (not a symbolic link), owned by the user and not writable by other users
    (``private``: mode 0700 exactly, as ``XDG_RUNTIME_DIR`` must be). Only a directory made here is
    chmod-ed (to undo the umask)."""
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        created = False
    except OSError as exc:
        raise state_error(path, exc, "create") from None
    try:
        st = os.lstat(path)
        if created and stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)  # just made, and a directory (not a link): undo the umask
            st = os.lstat(path)
    except OSError as exc:
        raise state_error(path, exc, "read") from None
    _refuse_unless_own_dir(path, st, private)
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symbolic link and opens only a regular file (a named pipe or a
    device under another's name would hang or leak); files are created 0600."""
    try:
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        doing = "read" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else "write"
        raise state_error(path, exc, doing) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise StateError(f"{path} is {describe(st.st_mode)}, not a regular file: remove it and run again")
    os.set_blocking(fd, True)
    return fd


def read_private(path: Path, limit: int = 16 * 1024 * 1024) -> str | None:
    """The text of one of devstack's files (at most ``limit`` bytes), or None when there is none."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except StateError:
        if not os.path.lexists(path):
            return None
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def write_private(path: Path, text: str) -> None:
    """Write atomically (a new temp file + rename, so a reader never sees half a file) with mode 0600.
    The rename replaces whatever had the name (a symbolic link is replaced, never followed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a stale one (this pid, an earlier run), or a planted link: unlink never follows
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    except OSError as exc:
        raise state_error(path, exc) from None
