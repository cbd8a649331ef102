"""Shared fixtures. Every test is checked for leaked processes, two ways, and fails if it left one:

- by ancestry: the test process is a child subreaper (Linux), so every process a test starts, and
  every process those start, stays its descendant even after a daemon double-forks, clears its
  environment and outlives its parents. Any descendant alive after the test that was not alive before
  it (by pid and start time) is a leak;
- by the environment markers: anything carrying DEVSTACK_SERVICE and this test's DEVSTACK_TEST_ID (set
  in the environment for the test's duration, so inherited by every devstack and service the test
  runs), wherever it is on the machine (where there is no subreaper).

Processes of other runs on the machine (a developer's own stack, a parallel test session) are neither
reported nor touched."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.tree import set_child_subreaper

LEAK_DEADLINE = 5.0
SUBREAPER = set_child_subreaper()


def python(code: str) -> list[str]:
    """argv that runs ``code`` in a fresh, unbuffered interpreter (trio's test helper)."""
    return [sys.executable, "-u", "-c", code]


TEST_ID_VAR = "DEVSTACK_TEST_ID"


def devstack_processes(test_id: str | None = None) -> dict[int, str]:
    """Live processes carrying DEVSTACK_SERVICE (and, if given, this test id)."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            env = proc.environ()
            if test_id is not None and env.get(TEST_ID_VAR) != test_id:
                continue
            if "DEVSTACK_SERVICE" in env and proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = " ".join(proc.info["cmdline"] or [])[:120]
        except (psutil.Error, OSError):
            continue
    return found


def descendants() -> dict[tuple[int, float], str]:
    """Live descendants of the test process: (pid, start time) -> command line."""
    found = {}
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return found
    for proc in children:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid, proc.create_time()] = " ".join(proc.cmdline())[:120]
        except (psutil.Error, OSError):
            continue
    return found


def leaks(test_id: str, before: dict[tuple[int, float], str]) -> dict[int, str]:
    """What a test left running: new descendants, and processes marked with its id."""
    found = {pid: cmd for (pid, started), cmd in descendants().items() if (pid, started) not in before}
    found.update(devstack_processes(test_id))
    return found


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def _reap_orphans(keep: set[int]) -> None:
    """Wait for exited processes re-parented to the test process (it is their subreaper), other than
    those alive before the test (a fixture's, waited for by their owner)."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            if child.pid not in keep and child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            continue


@pytest.fixture(autouse=True)
def no_leaked_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    test_id = uuid.uuid4().hex
    monkeypatch.setenv(TEST_ID_VAR, test_id)
    before = descendants()
    yield
    deadline = time.monotonic() + LEAK_DEADLINE
    leaked: dict[int, str] = {}
    while time.monotonic() < deadline:
        _reap_orphans({pid for pid, _ in before})
        leaked = leaks(test_id, before)
        if not leaked:
            return
        time.sleep(0.05)
    for pid in leaked:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    pytest.fail(f"test left processes running: {leaked}")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory, made the current directory."""
    monkeypatch.chdir(tmp_path)
    # keep a developer's settings out of the tests
    for var in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / ".xdg-state"))
    return tmp_path


def _environment_has_no_devstack() -> None:
    os.environ.pop("DEVSTACK_SERVICE", None)
    os.environ.pop("DEVSTACK_RUN", None)


_environment_has_no_devstack()
