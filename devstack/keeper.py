"""``.devstack/`` removed under a running stack (``rm -rf .devstack``, ``git clean -fdx``): made again,
with what the run needs (``run.json``, ``env``, ``ports.toml``, the project lock, the log files and the
control socket), and said once. Supervision never waits on it: services go on being restarted while
the directory is gone, and a directory that cannot be made again is said once too."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from . import state
from .environment import write_env_file
from .errors import DevstackError

if TYPE_CHECKING:
    from .control.server import ControlServer
    from .supervisor import Supervisor

__all__ = ("CHECK_EVERY", "keep_state_dir")

CHECK_EVERY = 0.5  # seconds between two looks (three lstat calls)


def _missing(sup: Supervisor, control: ControlServer) -> bool:
    state_dir = sup.config.state_dir
    return not (os.path.isdir(state_dir) and os.path.lexists(state_dir / state.RUN_FILE)
                and os.path.lexists(control.path))


async def _restore(sup: Supervisor, control: ControlServer) -> None:
    from .ports.store import write_assignments

    state_dir = state.ensure_state_dir(sup.config.state_dir)
    if state.hold_project_lock(state_dir) is None:  # a new up.lock: a second `up` is still refused
        raise DevstackError("another devstack took the project's lock meanwhile")
    state.write_run(state_dir, sup.record)
    write_env_file(sup.config, sup.ports)
    write_assignments(sup.config.root, sup.ports, sup.config.state_dir)
    sup.printer.reopen_logs()
    if not os.path.lexists(control.path):  # noqa: ASYNC240 (one lstat)
        await control.start()


async def keep_state_dir(sup: Supervisor, control: ControlServer) -> None:
    """Run for the life of the stack: look every ``CHECK_EVERY`` seconds, restore what is missing."""
    said_restored = said_failed = False
    while True:
        await asyncio.sleep(CHECK_EVERY)
        if not _missing(sup, control):
            continue
        try:
            await _restore(sup, control)
        except (DevstackError, OSError) as exc:
            if not said_failed:
                said_failed = True
                sup.printer.event(f"{sup.config.state_dir} was removed and cannot be made again ({exc}); "
                                  "the stack goes on without it", error=True)
            continue
        if not said_restored:
            said_restored = True
            sup.printer.event(f"{sup.config.state_dir} was removed while the stack runs: made it again "
                              "(run.json, env, ports.toml, the logs from now on, the control socket)")
