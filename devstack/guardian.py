"""The guardian: a small process beside the supervisor that ends the stack if the supervisor dies.

PR_SET_PDEATHSIG only reaches a service's first process, and nothing reaches a daemon that left its
process group. So ``devstack up`` starts ``python -m devstack.guardian TOKEN STATE_DIR`` in a session of
its own, holding the read end of a pipe whose write end only the supervisor has. When the supervisor exits
(however it exits, SIGKILL included) the pipe reaches EOF and the guardian stops every process that
carries the run's token or sits in one of its recorded process groups: SIGTERM, one second, SIGKILL.
After a clean shutdown the supervisor writes ``CLEAN`` before closing the pipe, and the guardian exits
at once without looking (a look at every process on the machine takes a while on a busy one). It
imports what a look needs only when it has to, so that it idles small.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ("CLEAN", "main", "start_guardian")

GRACE = 1.0
CLEAN = b"clean"


def start_guardian(token: str, state_dir: Path) -> subprocess.Popen[bytes]:
    from .tree import RUN_VAR, SERVICE_VAR, register_child

    env = {k: v for k, v in os.environ.items() if k not in (RUN_VAR, SERVICE_VAR)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.guardian", token, str(state_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    register_child(proc.pid)
    return proc


def main(argv: list[str]) -> int:
    token, state_dir = argv
    for sig in (signal.SIGINT, signal.SIGHUP):  # a terminal's signals are the supervisor's to handle
        signal.signal(sig, signal.SIG_IGN)
    said = b""
    while chunk := sys.stdin.buffer.read(4096):
        said = (said + chunk)[-len(CLEAN):]
    if said == CLEAN:
        return 0
    from .state import read_run
    from .tree import find_members, kill_all

    record = read_run(Path(state_dir))
    groups = record.live_groups() if record is not None and record.token == token else []
    leftovers = find_members(token, pgids=groups, everywhere=True)
    if leftovers:
        kill_all(leftovers, GRACE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
