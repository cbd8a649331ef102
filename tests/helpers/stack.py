"""Run the real ``devstack`` command as a subprocess and watch what it prints.

``Stack`` starts ``devstack ARGS`` in a project directory, reads its stdout in a thread (or lets it write
to a file, for tests that print a lot) and offers waits with a deadline: for a line, for the services'
``started`` lines, for its exit. Closing a ``Stack`` that is still running stops it (SIGTERM, then
SIGKILL), so a failing test does not leave a supervisor behind.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil
import tomli_w
from conftest import wait_for

__all__ = (
    "DEVSTACK",
    "Stack",
    "alive",
    "clean_env",
    "guardian_of",
    "run_devstack",
    "write_config",
)

_script = shutil.which("devstack", path=str(Path(sys.executable).parent))
DEVSTACK: list[str] = [_script] if _script else [sys.executable, "-m", "devstack"]

STARTED = re.compile(r"devstack \| (\S+) started \(pid (\d+)\)")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without a developer's colour settings, devstack's markers, or what
    devstack must set itself."""
    drop = {"NO_COLOR", "FORCE_COLOR", "DEVSTACK_SERVICE", "DEVSTACK_RUN", "PYTHONUNBUFFERED"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def write_config(root: Path, services: Mapping[str, Mapping[str, Any]],
                 name: str = "devstack.toml") -> Path:
    path = root / name
    path.write_text(tomli_w.dumps({"services": services}))
    return path


def run_devstack(args: Iterable[str], cwd: Path, *, timeout: float = 20.0,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run devstack to completion (it is killed if it outlives ``timeout``)."""
    return subprocess.run([*DEVSTACK, *args], cwd=cwd, env=dict(env or clean_env()), text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def guardian_of(pid: int) -> psutil.Process:
    def find() -> psutil.Process | None:
        for child in psutil.Process(pid).children():
            try:
                if "devstack.guardian" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        return None

    return wait_for(find, timeout=5, message=f"the guardian of devstack {pid}")


class Stack:
    """``devstack ARGS`` running in ``cwd``. ``stdout``: None reads it in a thread; a Path has devstack
    write to that file; an int is a file descriptor to hand over (a pty's slave end), whose other end
    ``read_fd`` is read in a thread. ``wrap``: a command devstack runs under (``prlimit --nofile=64``)."""

    def __init__(self, cwd: Path, *args: str, env: Mapping[str, str] | None = None,
                 stdout: Path | int | None = None, read_fd: int | None = None,
                 wrap: Iterable[str] = ()) -> None:
        self.args = args
        self._buf = bytearray()
        self._err = bytearray()
        self._lock = threading.Lock()
        self._file: Path | None = None
        self._threads: list[threading.Thread] = []
        out: Any
        if isinstance(stdout, Path):
            self._file = stdout
            out = stdout.open("wb")
        elif isinstance(stdout, int):
            out = stdout
        else:
            out = subprocess.PIPE
        try:
            self.proc = subprocess.Popen(
                [*wrap, *DEVSTACK, *args], cwd=cwd, env=dict(env or clean_env()), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.PIPE, start_new_session=True)
        finally:
            if isinstance(stdout, Path):
                out.close()
        assert self.proc.stderr is not None
        self._read_in_thread(self.proc.stderr.fileno(), self._err)
        if self.proc.stdout is not None:
            self._read_in_thread(self.proc.stdout.fileno(), self._buf)
        elif read_fd is not None:
            self._read_in_thread(read_fd, self._buf)

    def _read_in_thread(self, fd: int, into: bytearray) -> None:
        def pump() -> None:
            while True:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:  # a pty's master reads EIO once the slave side is closed
                    return
                if not data:
                    return
                with self._lock:
                    into.extend(data)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- what it printed ------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        if self._file is not None:
            return self._file.read_bytes().decode("utf-8", "replace")
        with self._lock:
            return self._buf.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first match of ``pattern`` (a regex, multiline) in the output, waiting for it."""
        regex = re.compile(pattern, re.MULTILINE)

        def find() -> re.Match[str] | None:
            m = regex.search(self.output)
            if m is None and self.proc.poll() is not None:
                m = regex.search(self.output)
                if m is None:
                    raise AssertionError(f"devstack exited ({self.proc.returncode}) before printing "
                                         f"{pattern!r}:\n{self.output}\n{self.stderr}")
            return m

        return wait_for(find, timeout=timeout, message=f"{pattern!r} in:\n{self.output}")

    def started(self, *names: str, timeout: float = 10.0) -> dict[str, int]:
        """Wait for the ``started`` line of each service; returns their pids."""
        def all_started() -> dict[str, int] | None:
            pids = {m.group(1): int(m.group(2)) for m in STARTED.finditer(self.output)}
            if self.proc.poll() is not None and not set(names) <= set(pids):
                raise AssertionError(f"devstack exited ({self.proc.returncode}):\n{self.output}"
                                     f"\n{self.stderr}")
            return pids if set(names) <= set(pids) else None

        return wait_for(all_started, timeout=timeout, message=f"{names} to start:\n{self.output}")

    def pids(self, count: int, pattern: str = r"ready pid=(\d+)", timeout: float = 10.0) -> list[int]:
        """Wait until ``pattern`` (with one group, a pid) has matched ``count`` times; those pids."""
        def found() -> list[int] | None:
            got = [int(p) for p in re.findall(pattern, self.output)]
            if len(got) < count and self.proc.poll() is not None:
                raise AssertionError(f"devstack exited ({self.proc.returncode}):\n{self.output}"
                                     f"\n{self.stderr}")
            return got if len(got) >= count else None

        return wait_for(found, timeout=timeout, message=f"{count} x {pattern!r} in:\n{self.output}")

    # -- driving it ---------------------------------------------------------------------------

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        """Its exit code; fails the test if it is still running after ``timeout`` seconds."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"devstack still running after {timeout} s:\n{self.output}") from None
        for thread in self._threads:
            thread.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
