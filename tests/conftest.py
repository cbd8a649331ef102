"""Shared fixtures. Every test is checked for leaked processes: anything still carrying
DEVSTACK_SERVICE in its environment after a test (other than what was already there) fails it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

LEAK_DEADLINE = 5.0


def python(code: str) -> list[str]:
    """argv that runs ``code`` in a fresh, unbuffered interpreter (trio's test helper)."""
    return [sys.executable, "-u", "-c", code]


def devstack_processes() -> dict[int, str]:
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if "DEVSTACK_SERVICE" in proc.environ() and proc.status() != psutil.STATUS_ZOMBIE:
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
def no_leaked_processes() -> Iterator[None]:
    before = set(devstack_processes())
    yield
    deadline = time.monotonic() + LEAK_DEADLINE
    leaked: dict[int, str] = {}
    while time.monotonic() < deadline:
        leaked = {pid: cmd for pid, cmd in devstack_processes().items() if pid not in before}
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
