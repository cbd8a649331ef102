"""Shared fixtures. Every test is checked for leaked processes: anything it started that still carries
DEVSTACK_SERVICE in its environment after the test fails it.

"It started" is told by DEVSTACK_TEST_ID, set in the environment for the test's duration and so
inherited by every devstack and service the test runs; processes of other runs on the machine (a
developer's own stack, a parallel test session) are neither reported nor touched."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

LEAK_DEADLINE = 5.0


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


@pytest.fixture(autouse=True)
def no_leaked_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    test_id = uuid.uuid4().hex
    monkeypatch.setenv(TEST_ID_VAR, test_id)
    yield
    deadline = time.monotonic() + LEAK_DEADLINE
    leaked: dict[int, str] = {}
    while time.monotonic() < deadline:
        leaked = devstack_processes(test_id)
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
