"""The descriptor limit: ``devstack up`` raises its soft limit to the hard one (as servers do) and gives
its services the soft limit it was started with; a stack that needs more descriptors than the hard
limit allows is refused before anything starts, saying how many it needs and how to raise the limit
(the issue: 600 services under ``ulimit -n 1024`` gave 187 tracebacks and none healthy)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import tomli_w
from helpers.stack import DEVSTACK, Stack, clean_env, run_devstack

from devstack.limits import needed_descriptors

from .kit import wait_no_survivors


def soft_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no Max open files line")


def test_the_soft_limit_is_raised_for_devstack_and_kept_for_services(project: Path) -> None:
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {
        "show": {"cmd": "echo limit=$(ulimit -n); sleep 60", "port": False}}}))
    with Stack(project, "up", "--no-timestamps", "--no-watch",
               wrap=["prlimit", "--nofile=256:4096", "--"]) as stack:
        stack.wait_for_line(r"show\s+\| limit=\d+")
        assert "show     | limit=256" in stack.output, stack.output  # the service: as it was
        assert soft_limit(stack.pid) == 4096  # devstack: raised to the hard limit
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=15) == 130
    assert "Traceback" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)


def test_a_stack_that_needs_more_than_the_hard_limit_is_refused_before_it_starts(project: Path) -> None:
    count = 600
    (project / "devstack.toml").write_text(tomli_w.dumps({"services": {
        f"s{i}": {"cmd": "sleep 60", "port": False} for i in range(count)}}))
    need = needed_descriptors(count)
    for command in (["up"], ["up", "-d"]):
        out = subprocess.run(["prlimit", "--nofile=1024:1024", "--", *DEVSTACK, *command], cwd=project,
                             env=clean_env(), capture_output=True, text=True, timeout=30)
        assert out.returncode == 1, (command, out)
        assert f"this stack of {count} services needs about {need} file descriptors, and devstack may " \
               "open at most 1024 (ulimit -n; the hard limit is 1024)" in out.stderr, (command, out.stderr)
        assert f"ulimit -n {need}" in out.stderr and "nothing was started" in out.stderr
        assert "started" not in out.stdout and "Traceback" not in out.stdout + out.stderr
    assert run_devstack(["status"], project).returncode == 1  # no stack is running
    wait_no_survivors([], timeout=5)
