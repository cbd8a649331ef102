"""Ports as a contract: assigned from a pool outside the ephemeral range, stable from run to run, never
shared between running projects, and verified once a service runs.

    allocate / release_project     assign, persist and lease a project's ports (allocation.py)
    read_assignments               the persisted ports, when no stack runs (store.py)
    check_range                    why a port_range cannot be the pool (pool.py)
    is_free / holder               probe a port, name who holds it (probe.py)
    listening / verify             what a process tree listens on, and what is wrong with it (contract.py)
    Fixes                          the fix to name for it, for the tool that runs (fixes.py)
"""

from __future__ import annotations

from .allocation import Allocation, allocate, release_project
from .contract import Finding, FindingKind, Listen, listening, verify
from .fixes import Fixes
from .pool import DEFAULT_RANGE, check_range
from .probe import Holder, holder, is_free
from .store import read_assignments

__all__ = (
    "DEFAULT_RANGE",
    "Allocation",
    "Finding",
    "FindingKind",
    "Fixes",
    "Holder",
    "Listen",
    "allocate",
    "check_range",
    "holder",
    "is_free",
    "listening",
    "read_assignments",
    "release_project",
    "verify",
)
