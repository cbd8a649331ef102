"""A changing machine under a running stack: ``.devstack/`` removed while it runs (made again, said
once, every service still supervised, Ctrl-C exits 130), and two ``devstack up -d`` at once (the one
that loses touches no file of the stack that runs)."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
from pathlib import Path

import tomli_w
from conftest import wait_for
from helpers.stack import DEVSTACK, Stack, clean_env, run_devstack, write_config

from devstack.state import read_run

from .kit import assert_clean_output, survivors, tree_state, wait_no_survivors

CONFIG = tomli_w.dumps({
    "devstack": {"restart_backoff": "50ms", "restart_backoff_max": "50ms"},
    "services": {"api": {"cmd": "echo crashing; sleep 0.2; exit 1", "port": False},
                 "web": {"cmd": "while true; do echo tick; sleep 0.1; done", "port": True}},
})


def test_state_dir_removed_while_running_is_made_again(project: Path) -> None:
    (project / "devstack.toml").write_text(CONFIG)
    state = project / ".devstack"
    before = tree_state(project)
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        wait_for(lambda: stack.output.count("api restarting in") >= 2, message="api crash-looping")
        shutil.rmtree(state)
        stack.wait_for_line(rf"{state} was removed while the stack runs: made it again \(run.json, env, "
                            r"ports.toml, the logs from now on, the control socket\)")
        restarts = stack.output.count("api restarting in")
        wait_for(lambda: stack.output.count("api restarting in") >= restarts + 3, timeout=20,
                 message=f"3 more restarts of api after {restarts}:\n{stack.output}")
        status = run_devstack(["status"], project)  # the control socket answers again
        assert status.returncode == 0 and "api" in status.stdout and "web" in status.stdout, status.stderr
        record = read_run(state)
        assert record is not None and record.pid == stack.pid
        assert record.config == str(project / "devstack.toml")
        assert (state / "env").is_file() and (state / "ports.toml").is_file()
        wait_for(lambda: "crashing" in (state / "logs" / "api.log").read_text(errors="replace")
                 if (state / "logs" / "api.log").exists() else False, message="api.log written again")
        second = run_devstack(["up"], project)  # the lock was taken again: a second up is still refused
        assert second.returncode == 1 and "already running" in second.stderr, second.stderr
        seen = list(survivors())
        stack.send(signal.SIGINT)
        code = stack.wait()
    assert code == 130, (code, stack.output, stack.stderr)
    assert_clean_output(stack.output, stack.stderr)
    assert stack.output.count("was removed while the stack runs") == 1
    wait_no_survivors(seen, timeout=5)
    assert tree_state(project) == before


def _prepare(project: Path) -> Path:
    write_config(project, {"api": {"cmd": "echo hello; exec sleep 60", "port": False}})
    state = project / ".devstack"
    (state / "logs").mkdir(parents=True, mode=0o700)
    os.chmod(state, 0o700)
    (state / ".gitignore").write_text("*\n")
    return state


def test_up_detached_that_loses_the_lock_touches_nothing(project: Path) -> None:
    """A winner that holds the project's lock but has not written run.json yet (the instant two
    ``up -d`` start at once): the loser must not so much as truncate its devstack.log."""
    state = _prepare(project)
    (state / "logs" / "devstack.log").write_text("the winner's start\n")
    fd = os.open(state / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        before = tree_state(project, skip=())
        out = run_devstack(["up", "-d"], project)
        assert out.returncode == 1, out.stderr
        assert out.stderr.strip() == (
            "devstack: devstack is already running for this project; stop it with Ctrl-C in its terminal, "
            "or with devstack down, before starting another")
        assert_clean_output(out.stdout, out.stderr)
        assert tree_state(project, skip=()) == before
    finally:
        os.close(fd)
    assert not survivors()


def test_two_up_detached_at_once(project: Path) -> None:
    state = _prepare(project)
    for attempt in range(2):
        procs = [subprocess.Popen([*DEVSTACK, "up", "-d"], cwd=project, env=clean_env(), text=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        results = [(p.wait(60), *p.communicate()) for p in procs]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 1], (attempt, results)
        loser = next(err for code, _, err in results if code == 1)
        assert "already running for this project" in loser, loser
        for _, out, err in results:
            assert_clean_output(out, err)
        log = (state / "logs" / "devstack.log").read_text()
        assert "devstack | api started (pid" in log and "already running" not in log, log
        seen = list(survivors())
        down = run_devstack(["down"], project, timeout=30)
        assert down.returncode == 0, down.stderr
        wait_no_survivors(seen, timeout=5)
