"""Hostile files under ``.devstack/`` (a repository can commit anything there): a symbolic link for the
directory itself, for a log, for the lock; a directory, a file or a named pipe where the control socket
goes. devstack never follows a link, never writes into or chmods what it did not create, and either
replaces the thing with a line naming it, or refuses with the path and what to do, having started
nothing. Each case: the message, the exit code, no traceback, nothing left running, nothing outside
``.devstack/`` created, changed or chmod-ed."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
from conftest import wait_for
from helpers.stack import Stack, run_devstack

from .kit import assert_clean_output, survivors, tree_state, wait_no_survivors

# prints a line, then fails: restarted after 50 ms, again and again (supervision goes on)
CRASHER = "echo hello from api; sleep 0.2; exit 1"
CONFIG = f"""
[devstack]
restart_backoff = "50ms"
restart_backoff_max = "50ms"

[services.api]
cmd = "{CRASHER}"
port = false
"""


@pytest.fixture
def outside(tmp_path: Path, project: Path) -> Path:
    """A directory beside the project, standing for the rest of the machine (/tmp, the user's home)."""
    where = tmp_path.parent / f"{tmp_path.name}-outside"
    where.mkdir()
    (where / ".bashrc").write_text("the user's own file\n")
    (project / "devstack.toml").write_text(CONFIG)
    return where


def _refused(project: Path, *args: str) -> tuple[int, str]:
    out = run_devstack(["up", "--no-watch", *args], project)
    assert_clean_output(out.stdout, out.stderr)
    assert "started (pid" not in out.stdout, out.stdout
    return out.returncode, out.stderr


def _runs_and_restarts(project: Path) -> str:
    """Run the stack until api has been restarted twice, Ctrl-C it; its output (exit code 130)."""
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        wait_for(lambda: stack.output.count("api restarting in") >= 3, timeout=20, message="3 restarts")
        seen = list(survivors())
        stack.send(signal.SIGINT)
        code = stack.wait()
    assert code == 130, (code, stack.output, stack.stderr)
    assert_clean_output(stack.output, stack.stderr)
    wait_no_survivors(seen, timeout=5)
    return stack.output


@pytest.mark.parametrize("mode", [0o1777, 0o755])
def test_state_dir_as_a_symlink_is_refused_and_its_target_untouched(project: Path, outside: Path,
                                                                     mode: int) -> None:
    shared = outside / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    (project / ".devstack").symlink_to(shared)
    before = tree_state(project, outside)
    for args in ((), ("-d",)):
        code, err = _refused(project, *args)
        assert code == 1, err
        assert f"{project / '.devstack'} is a symbolic link (to {shared})" in err, err
        assert "remove the link" in err, err
    assert stat.S_IMODE(shared.stat().st_mode) == mode
    assert tree_state(project, outside) == before
    assert not survivors()


@pytest.mark.parametrize("target", ["dangling", "existing"])
def test_log_file_as_a_symlink_is_replaced_never_followed(project: Path, outside: Path, target: str) -> None:
    victim = outside / ("new-file" if target == "dangling" else ".bashrc")
    logs = project / ".devstack" / "logs"
    logs.mkdir(parents=True, mode=0o700)
    os.chmod(project / ".devstack", 0o700)
    (logs / "api.log").symlink_to(victim)
    before = tree_state(project, outside)
    output = _runs_and_restarts(project)
    assert f"{logs / 'api.log'} was a symbolic link (to {victim}), not a log file" in output, output
    assert tree_state(project, outside) == before  # the victim neither created nor written
    log = logs / "api.log"
    assert not log.is_symlink() and stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "hello from api" in log.read_text()


def test_detached_log_as_a_symlink_is_refused(project: Path, outside: Path) -> None:
    logs = project / ".devstack" / "logs"
    logs.mkdir(parents=True, mode=0o700)
    os.chmod(project / ".devstack", 0o700)
    (logs / "devstack.log").symlink_to(outside / ".bashrc")
    before = tree_state(project, outside)
    code, err = _refused(project, "-d")
    assert code == 1, err
    assert f"cannot write {logs / 'devstack.log'}: it is a symbolic link" in err, err
    assert tree_state(project, outside) == before
    assert not survivors()


@pytest.mark.parametrize("entry", ["logs", "up.lock"])
def test_other_state_entries_as_symlinks_are_refused(project: Path, outside: Path, entry: str) -> None:
    state = project / ".devstack"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    target = outside / "target"
    target.mkdir() if entry == "logs" else None
    (state / entry).symlink_to(target)
    before = tree_state(project, outside)
    code, err = _refused(project)
    assert code == 1, err
    assert str(state / entry) in err and "symbolic link" in err, err
    assert tree_state(project, outside) == before
    assert not survivors()


def test_run_record_as_a_symlink_is_replaced_not_written_through(project: Path, outside: Path) -> None:
    state = project / ".devstack"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    (state / "run.json").symlink_to(outside / ".bashrc")
    (state / "env").symlink_to(outside / "env")
    before = tree_state(project, outside)
    _runs_and_restarts(project)
    assert tree_state(project, outside) == before


@pytest.mark.parametrize("kind", ["directory", "file", "fifo", "symlink"])
def test_a_non_socket_at_the_control_socket_is_refused_before_anything_starts(
        project: Path, outside: Path, kind: str) -> None:
    state = project / ".devstack"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    sock = state / "control.sock"
    if kind == "directory":
        sock.mkdir()
        (sock / "keep").write_text("x")
    elif kind == "file":
        sock.write_text("committed by mistake\n")
    elif kind == "fifo":
        os.mkfifo(sock)
    else:
        sock.symlink_to(outside / ".bashrc")
    before = tree_state(project, outside)
    code, err = _refused(project)
    assert code == 1, err
    described = {"directory": "a directory", "file": "a regular file", "fifo": "a named pipe",
                 "symlink": "a symbolic link"}[kind]
    assert f"{sock} is {described}, not devstack's control socket: remove it" in err, err
    assert tree_state(project, outside) == before
    assert sock.exists() or sock.is_symlink()
    assert not survivors()
    assert not (state / "run.json").exists()


def test_ports_file_that_is_a_named_pipe_is_refused_not_read(project: Path, outside: Path) -> None:
    state = project / ".devstack"
    state.mkdir(mode=0o700)
    os.chmod(state, 0o700)
    os.mkfifo(state / "ports.toml")  # reading it would wait for a writer for ever
    code, err = _refused(project)
    assert code == 1, err
    assert f"{state / 'ports.toml'} is a named pipe, not a regular file: remove it" in err, err
    assert not survivors()


def test_user_state_dir_as_a_symlink_is_refused(project: Path, outside: Path) -> None:
    shared = outside / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    registry = project / ".xdg-state" / "devstack"  # the project fixture's XDG_STATE_HOME
    registry.parent.mkdir()
    registry.symlink_to(shared)
    before = tree_state(outside)
    code, err = _refused(project)
    assert code == 1, err
    assert f"{registry} is a symbolic link (to {shared})" in err, err
    assert tree_state(outside) == before
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_lease_registry_as_a_symlink_is_replaced(project: Path, outside: Path) -> None:
    registry = project / ".xdg-state" / "devstack"
    registry.mkdir(parents=True, mode=0o700)
    (registry / "leases.toml").symlink_to(outside / ".bashrc")
    before = tree_state(outside)
    _runs_and_restarts(project)
    assert tree_state(outside) == before
    assert not (registry / "leases.toml").is_symlink()
