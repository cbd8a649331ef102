"""The file system fails under devstack: a read-only project, a full disk. A read-only project is
refused with one clear line; on a full disk the logs that cannot be written are said once and dropped
while the merged stream goes on, a crashing service is still restarted, and Ctrl-C still exits 130.

Both need a small tmpfs (``mount``, as root); where none can be mounted the tests skip, saying so."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from conftest import python, wait_for
from helpers.stack import Stack, run_devstack

from .kit import assert_clean_output, survivors, tree_state, wait_no_survivors

CRASHER = "echo crashing; sleep 0.3; exit 1"
# fills the disk through its log, then goes on printing a numbered line every 20 ms
FLOOD = """
import time
for i in range(20000):  # 4 MB, into a 1 MB disk
    print("flood", i, "x" * 200)
for i in range(10**9):
    print("tick", i)
    time.sleep(0.02)
"""
CONFIG = tomli_w.dumps({
    "devstack": {"restart_backoff": "50ms", "restart_backoff_max": "50ms"},
    "services": {"api": {"cmd": CRASHER, "port": False},
                 "flood": {"cmd": python(FLOOD), "port": False}},
})


@pytest.fixture
def tmpfs(tmp_path: Path, project: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, the project's directory, holding its devstack.toml."""
    where = tmp_path / "fs"
    where.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(where)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {exc}")
    try:
        (where / "devstack.toml").write_text(CONFIG)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def test_read_only_project_is_refused_clearly(tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True, timeout=10)
    before = tree_state(tmpfs)
    for args in (["up"], ["up", "-d"]):
        out = run_devstack(args, tmpfs)
        assert out.returncode == 1, (args, out.stderr)
        assert out.stderr.strip() == (
            f"devstack: cannot create {tmpfs / '.devstack'}: the file system is read-only: devstack keeps "
            "its state (ports, logs, the control socket) in .devstack/ beside the config; run it from a "
            "writable copy of the project"), out.stderr
        assert_clean_output(out.stdout, out.stderr)
    assert tree_state(tmpfs) == before
    assert not survivors()


def test_full_disk_drops_logs_once_and_supervision_goes_on(tmpfs: Path) -> None:
    before = tree_state(tmpfs)
    with Stack(tmpfs, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"cannot write \S+/flood\.log \(No space left on device\)", timeout=30)
        # the merged stream goes on, and the crashing service is still restarted, on a full disk
        ticks = int(stack.wait_for_line(r"flood +\| tick (\d+)", timeout=10).group(1))
        restarts = stack.output.count("api restarting in")
        stack.wait_for_line(rf"flood +\| tick {ticks + 20}\b", timeout=10)
        wait_for(lambda: stack.output.count("api restarting in") >= restarts + 3, timeout=20,
                 message=f"3 more restarts of api after {restarts}")
        seen = list(survivors())
        stack.send(signal.SIGINT)
        code = stack.wait()
    out = stack.output
    assert code == 130, (code, out[-3000:], stack.stderr)
    assert_clean_output(out, stack.stderr)
    for name in ("flood", "api"):  # each log said to be dropped at most once
        assert len(re.findall(rf"cannot write \S+/{name}\.log", out)) <= 1, out[-3000:]
    wait_no_survivors(seen, timeout=5)
    assert tree_state(tmpfs) == before  # nothing outside .devstack/ created or changed


def test_detached_stack_on_a_full_disk(tmpfs: Path) -> None:
    """``up -d`` writes the merged stream into .devstack/logs/devstack.log, on the full disk: what it
    cannot take is dropped (and counted once it can), and the stack is still steered and stopped."""
    up = run_devstack(["up", "-d", "--no-watch"], tmpfs, timeout=60)
    assert up.returncode == 0, (up.stdout, up.stderr)
    assert_clean_output(up.stdout, up.stderr)
    try:
        wait_for(lambda: os.statvfs(tmpfs).f_bavail == 0, timeout=30, message="the disk to fill")

        def restarts() -> int:
            status = run_devstack(["status", "--json"], tmpfs)
            assert status.returncode == 0, status.stderr
            return next(s["restarts"] for s in json.loads(status.stdout)["services"] if s["name"] == "api")

        full = restarts()
        wait_for(lambda: restarts() >= full + 2, timeout=20, message="api restarted on the full disk")
        seen = list(survivors())
    finally:
        down = run_devstack(["down"], tmpfs, timeout=30)
    assert down.returncode == 0, down.stderr
    wait_no_survivors(seen, timeout=5)
    assert_clean_output((tmpfs / ".devstack/logs/devstack.log").read_text(errors="replace"))
