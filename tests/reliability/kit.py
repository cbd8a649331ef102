"""Shared pieces of the reliability suite: how many repetitions (soak mode), an RSS sampler, and the
survivor check every fault test ends with.

``DEVSTACK_SOAK=1`` turns the soak mode on: the same tests, with more repetitions and bigger loads. The
default mode keeps each combination to one run, so that the suite fits in the normal test run."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from conftest import TEST_ID_VAR, devstack_processes, wait_for

from devstack.state import read_run

__all__ = ("SOAK", "RssPeak", "alive_of", "assert_clean_output", "control_socket", "reps", "rss_peak",
           "survivors", "tree_state", "wait_no_survivors")

SOAK = os.environ.get("DEVSTACK_SOAK", "") not in ("", "0")


def reps(default: int, soak: int) -> int:
    """How many times to repeat: ``default``, or ``soak`` in soak mode."""
    return soak if SOAK else default


def survivors() -> dict[int, str]:
    """Live processes of this test's runs: DEVSTACK_SERVICE in their environment, this test's id."""
    return devstack_processes(os.environ[TEST_ID_VAR])


def alive_of(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            continue
    return out


def wait_no_survivors(pids: list[int], timeout: float, what: str = "") -> None:
    """Every pid in ``pids`` gone, and no process of this test carrying DEVSTACK_SERVICE anywhere on
    the machine, within ``timeout`` seconds."""
    wait_for(lambda: not alive_of(pids) and not survivors(), timeout=timeout,
             message=f"no survivors {what}: still alive {alive_of(pids)}, {survivors()}")


def control_socket(project: Path, timeout: float = 20.0) -> Path:
    """The running stack's control socket, once it is open (a moment after the services start)."""
    def find() -> Path | None:
        record = read_run(project / ".devstack")
        path = Path(record.control) if record is not None and record.control else None
        return path if path is not None and path.exists() else None

    return wait_for(find, timeout=timeout, message="the control socket")


class RssPeak:
    def __init__(self) -> None:
        self.peak = 0
        self.samples = 0


@contextmanager
def rss_peak(pid: int, every: float = 0.01) -> Iterator[RssPeak]:
    """Sample the RSS of ``pid`` in a thread while the block runs; the peak, in bytes."""
    result = RssPeak()
    done = threading.Event()
    proc = psutil.Process(pid)

    def sample() -> None:
        while not done.is_set():
            try:
                result.peak = max(result.peak, proc.memory_info().rss)
                result.samples += 1
            except psutil.Error:
                return
            time.sleep(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()


def tree_state(*roots: Path, skip: tuple[str, ...] = (".devstack", ".xdg-state")
               ) -> dict[str, tuple[int, int, int, bytes]]:
    """Every entry under ``roots`` (not followed through links; the project's state directory and the
    per-user one the ``project`` fixture puts beside it, ``skip``, left out): its
    type and mode, owner, size and, for a regular file or a link, its content or target. Compared
    before and after a run, it shows anything created, changed or chmod-ed."""
    found: dict[str, tuple[int, int, int, bytes]] = {}

    def add(path: Path) -> None:
        st = path.lstat()
        if path.is_symlink():
            body = os.fsencode(os.readlink(path))
        elif path.is_file():
            body = path.read_bytes()
        else:
            body = b""
        # a directory's size grows with its entries: its entries are compared instead
        size = 0 if path.is_dir() and not path.is_symlink() else st.st_size
        found[str(path)] = (st.st_mode, st.st_uid, size, body)

    for root in roots:
        if not os.path.lexists(root):
            continue
        add(root)
        if root.is_symlink() or not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in skip]
            for entry in (*dirnames, *filenames):
                add(Path(dirpath) / entry)
    return found


def assert_clean_output(*texts: str) -> None:
    """No traceback (nor a bare exception line) anywhere in what devstack printed."""
    for text in texts:
        assert "Traceback" not in text and not re.search(r"\b[A-Z]\w*(Error|Exception)\b: ", text), text
