"""Other users on the machine (issue: "a shared machine"): the per-user runtime directory for long
socket paths made first by someone else, and another user reading a stack's logs. devstack never follows
or chmods another user's directory, says so, and goes on elsewhere or refuses with the reason; nothing
is left running. The other user is ``nobody`` (setpriv; needs root)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.stack import Stack, clean_env, run_devstack, write_config

from devstack.control.paths import socket_place

from .kit import assert_clean_output, survivors, tree_state, wait_no_survivors

NOBODY = 65534


@pytest.fixture
def deep(project: Path) -> Path:
    """A project whose .devstack/control.sock is too long for a Unix socket address."""
    where = project / ("p" * 100)
    where.mkdir()
    assert len(os.fsencode(where / ".devstack" / "control.sock")) > 108
    write_config(where, {"api": {"cmd": "echo hello from api; exec sleep 60", "port": False}})
    return where


def _hostile_runtime(tmp: Path, shape: str) -> Path:
    """``TMPDIR/devstack-UID`` as another user (or a mistake) left it; the directory it really is."""
    base = tmp / f"devstack-{os.getuid()}"
    if shape == "symlink":
        real = tmp / "elsewhere"
        real.mkdir()
        os.chmod(real, 0o755)
        os.chown(real, NOBODY, NOBODY)
        base.symlink_to(real)
        return real
    base.mkdir()
    if shape == "other user":
        os.chown(base, NOBODY, NOBODY)
        os.chmod(base, 0o755)
    else:  # the user's own, but open to others
        os.chmod(base, 0o755)
    return base


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A short TMPDIR of the test's own (a socket path in it must fit in 108 bytes), 1777 as /tmp is."""
    where = Path(tempfile.mkdtemp(prefix="ds-", dir="/tmp"))
    os.chmod(where, 0o1777)
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.parametrize("shape", ["other user", "symlink", "too open"])
def test_runtime_dir_of_another_user_is_not_used(tmp: Path, deep: Path, shape: str) -> None:
    hostile = _hostile_runtime(tmp, shape)
    before = tree_state(tmp, deep.parent)
    env = clean_env(TMPDIR=str(tmp))
    env.pop("XDG_RUNTIME_DIR", None)
    with Stack(deep, "up", "--no-timestamps", "--no-watch", env=env) as stack:
        note = stack.wait_for_line(rf"not using {tmp}/devstack-{os.getuid()} for the control socket: "
                                   rf".*; using ({tmp}/devstack-{os.getuid()}-\w+) for this run")
        made = Path(note.group(1))
        stack.wait_for_line("hello from api")
        status = run_devstack(["status"], deep, env=env)
        assert status.returncode == 0 and "api" in status.stdout, status.stderr
        seen = list(survivors())
        assert (made / next(iter(os.listdir(made)))).is_socket()
        stack.send(signal.SIGINT)
        code = stack.wait()
    assert code == 130, (code, stack.output, stack.stderr)
    assert_clean_output(stack.output, stack.stderr)
    wait_no_survivors(seen, timeout=5)
    assert not made.exists()  # made for the run, removed with it
    after = tree_state(tmp, deep.parent)
    assert after == before, (hostile, set(after.items()) ^ set(before.items()))


def test_socket_place_checks_what_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime directory of the user's own, 0700, is used as it is (and made when missing)."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None
    try:
        deep = tmp_path / ("q" * 120) / ".devstack"
        place = socket_place(deep)
        assert place.made is None and place.note is None
        assert place.path.parent == tmp_path / f"devstack-{os.getuid()}"
        assert (place.path.parent.stat().st_mode & 0o777) == 0o700
        assert socket_place(deep) == place
    finally:
        tempfile.tempdir = None


# -- another user's logs ------------------------------------------------------------------------------

@pytest.fixture
def shared_project(project: Path) -> Iterator[Path]:
    """A project another user can reach (pytest's tmp_path is 0700), 0755 like a checkout in /srv."""
    where = Path(tempfile.mkdtemp(prefix="devstack-shared-"))
    os.chmod(where, 0o755)
    write_config(where, {"api": {"cmd": "echo hello from api; exec sleep 60", "port": False}})
    os.chmod(where / "devstack.toml", 0o644)
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _as_nobody(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    python = sys.executable  # the venv's (its realpath would leave the venv, and devstack, behind)
    env = {**clean_env(), "HOME": "/nonexistent", "XDG_STATE_HOME": "/nonexistent/state"}
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python,
                           "-m", "devstack", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=20)


def test_logs_of_another_users_stack_say_whose_it_is(shared_project: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed (util-linux)")
    with Stack(shared_project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line("hello from api")
        seen = list(survivors())
        for args in (["logs"], ["logs", "-n", "5", "api"], ["status"]):
            out = _as_nobody(args, shared_project)
            assert_clean_output(out.stdout, out.stderr)
            assert out.returncode == 1, (args, out.stderr)
            assert "this stack belongs to root (uid 0): only they can" in out.stderr, (args, out.stderr)
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
    wait_no_survivors(seen, timeout=5)
    out = _as_nobody(["logs"], shared_project)  # no stack running: the files are the owner's too
    assert out.returncode == 1 and "this stack belongs to root (uid 0)" in out.stderr, out.stderr
    assert_clean_output(out.stdout, out.stderr)
