"""The guardian: a small process beside the supervisor that ends the stack if the supervisor dies.

PR_SET_PDEATHSIG only reaches a service's first process, and nothing reaches a daemon that left its
process group. So ``devstack up`` starts ``python -m devstack.guardian TOKEN [CGROUP]`` in a session of
its own, holding the read end of a pipe whose write end only the supervisor has. The supervisor tells it,
one line each (``PID START``), of every process of the run it sees (``tree.TreeTracker``). When the
supervisor exits (however it exits, SIGKILL included) the pipe reaches EOF and the guardian stops every
process of the run: those in the run's cgroup, those it was told of that are still the same processes
(pid and start time), their descendants, and any carrying the run's token in its environment: SIGTERM,
one second, then SIGKILL (``cgroup.kill`` for the cgroup). After a clean shutdown the supervisor writes
``clean`` before closing the pipe, and the guardian exits at once without looking. It imports what a
look needs only when it has to, so that it idles small.

If the guardian itself is killed, the supervisor starts a new one and tells it everything again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ("CLEAN", "guardian_line", "main", "start_guardian")

GRACE = 1.0
CLEAN = b"clean\n"


def guardian_line(pid: int, start: int) -> bytes:
    return f"{pid} {start}\n".encode()


def start_guardian(token: str, cgroup: Path | None) -> subprocess.Popen[bytes]:
    from .tree import INSTANCE_VAR, RUN_VAR, SERVICE_VAR, register_child

    env = {k: v for k, v in os.environ.items() if k not in (RUN_VAR, SERVICE_VAR, INSTANCE_VAR)}
    argv = [sys.executable, "-m", "devstack.guardian", token]
    if cgroup is not None:
        argv.append(str(cgroup))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    register_child(proc.pid)
    return proc


def main(argv: list[str]) -> int:
    token, cgroup_dir = argv[0], (Path(argv[1]) if len(argv) > 1 else None)
    for sig in (signal.SIGINT, signal.SIGHUP):  # a terminal's signals are the supervisor's to handle
        signal.signal(sig, signal.SIG_IGN)
    told: dict[int, int] = {}
    last = b""
    for line in sys.stdin.buffer:
        last = line
        pid, _, start = line.partition(b" ")
        if pid.isdigit() and start.strip().isdigit():
            told[int(pid)] = int(start)
    if last == CLEAN:
        return 0
    stop_run(token, cgroup_dir, told)
    return 0


def stop_run(token: str, cgroup_dir: Path | None, told: dict[int, int]) -> None:
    """SIGTERM every process of the run, one second, SIGKILL what is left; remove its cgroup."""
    import psutil

    from . import cgroup
    from .tree import find_members, kill_all, process_table

    table = process_table()
    pids = {pid for pid, start in told.items() if pid in table and table[pid][2] == start}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    todo = list(pids)
    while todo:  # what they started since they were told of
        for child in children.get(todo.pop(), ()):
            if child not in pids:
                pids.add(child)
                todo.append(child)
    if cgroup_dir is not None:
        pids.update(cgroup.members(cgroup_dir))
    pids.discard(os.getpid())
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.Error:
            continue
    procs.extend(p for p in find_members(token, everywhere=True) if p.pid not in pids)
    if procs:
        kill_all(procs, GRACE)
    if cgroup_dir is not None:
        cgroup.clear(cgroup_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
