"""The file descriptor limit: raised at ``devstack up`` from its soft value towards the hard one, as
servers do (nginx's ``worker_rlimit_nofile``, systemd's ``LimitNOFILE``), and checked against what the
stack needs before anything starts. Services get the soft limit devstack was started with back (a
program written for ``select()`` can break on descriptors above 1024, and some close every descriptor
up to the limit when they start)."""

from __future__ import annotations

import resource
import sys

from .errors import DevstackError

__all__ = ("needed_descriptors", "raise_descriptor_limit", "restore_for_child")

BASE = 32  # devstack itself: the interpreter, the loop, the lock, the guardian's pipe, the watcher...
# a few control connections at once (beyond, they wait in the backlog or meet the limit, which is said
# once and survived: see control.http)
CONTROL = 16
PER_SERVICE = 4  # a pipe and a log file while it runs, twice that for a moment while it starts
_MACOS_OPEN_MAX = 10240  # macOS refuses a soft limit above OPEN_MAX even when the hard one is unlimited

_original: tuple[int, int] | None = None  # the limits devstack was started with, if it changed them


def needed_descriptors(services: int) -> int:
    """About how many descriptors a stack of ``services`` takes (control connections included)."""
    return BASE + CONTROL + PER_SERVICE * services


def raise_descriptor_limit(services: int) -> int:
    """Raise the soft limit as far as the hard one allows; the limit now. A DevstackError, before
    anything starts, when a stack of ``services`` needs more than that, saying how many and how to
    raise it."""
    global _original
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if hard == resource.RLIM_INFINITY:
        wanted = _MACOS_OPEN_MAX if sys.platform == "darwin" else max(soft, 1 << 20)
    if wanted != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or wanted <= soft):
        wanted = soft
    if wanted != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            _original = (soft, hard)
        except (ValueError, OSError):
            pass
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    need = needed_descriptors(services)
    if now != resource.RLIM_INFINITY and need > now:
        shown_hard = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        raise DevstackError(
            f"this stack of {services} services needs about {need} file descriptors, and devstack may "
            f"open at most {now} (ulimit -n; the hard limit is {shown_hard}): raise the limit "
            f"(ulimit -n {need} in this shell; for good, nofile in /etc/security/limits.conf, or "
            f"LimitNOFILE= for a systemd session), or start fewer services (devstack up NAME...); "
            "nothing was started")
    return now


def restore_for_child() -> None:
    """A ``preexec_fn`` step: give a service the soft limit devstack was started with."""
    if _original is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, _original)
        except (ValueError, OSError):
            pass
