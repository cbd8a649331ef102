"""Failure injection for the reliability tests: ``DEVSTACK_FAILPOINTS`` makes named steps of a service's
life raise an ``OSError``, as a full disk, a descriptor limit or a missing directory would, so that a
test can check that no error ends a service's supervision silently (FreeBSD's fail(9) and etcd's gofail
do the same). Unset (always, outside the tests), a check is one dictionary lookup.

    DEVSTACK_FAILPOINTS="spawn:api:2,exited:worker"

fails the next two starts of ``api`` and the handling of ``worker``'s next exit. An entry is
``STEP[:SERVICE][:COUNT]`` (``*`` or nothing for any service, 1 time by default); ``STEP:SERVICE:emfile``
raises EMFILE ("Too many open files", a transient error) instead of EIO. Steps: ``spawn`` (before the
process is started), ``started`` (after), ``exited`` (when its exit is handled), ``restart`` (before a
restart stops it), ``stop`` (before it is stopped), ``monitor`` (in its health check)."""

from __future__ import annotations

import errno
import os

__all__ = ("ENV_VAR", "check")

ENV_VAR = "DEVSTACK_FAILPOINTS"


def _parse(spec: str) -> dict[tuple[str, str], list[int]]:
    points: dict[tuple[str, str], list[int]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        step, service, *rest = [*entry.split(":"), "*"][:2] + entry.split(":")[2:]
        count, code = 1, errno.EIO
        for part in rest:
            if part == "emfile":
                code = errno.EMFILE
            elif part.isdigit():
                count = int(part)
        points[(step, service or "*")] = [count, code]
    return points


_POINTS = _parse(os.environ.get(ENV_VAR, ""))


def check(step: str, service: str) -> None:
    """Raise the injected error if ``step`` of ``service`` is to fail (and count it down)."""
    if not _POINTS:
        return
    point = _POINTS.get((step, service)) or _POINTS.get((step, "*"))
    if point is None or point[0] <= 0:
        return
    point[0] -= 1
    raise OSError(point[1], f"{os.strerror(point[1])} (injected at {step})")
