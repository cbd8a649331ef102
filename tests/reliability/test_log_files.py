"""``devstack logs`` on big log files (no stack running): ``-n`` reads from the end, so its time and
memory follow what is printed, not the size of the files; the merged reading streams. The reading
itself is checked against a plain split of the file, whatever the lines and block boundaries."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from helpers.stack import DEVSTACK, clean_env, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack import logfiles
from devstack.files import StateError

from .kit import assert_clean_output, rss_peak

BIG = 200 * 1024 * 1024  # 300 MB in the issue; 200 MB shows the bound as well and is made in ~1 s


def _big_log(path: Path, size: int, stamp: str, tag: str) -> int:
    """``size`` bytes of log lines (made from one 1 MiB block written again and again); the count."""
    line = f"{stamp} {tag} " + "x" * 90 + "\n"
    block = line.encode() * ((1 << 20) // len(line))
    with path.open("wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
        for i in range(5):
            f.write(f"{stamp} {tag} last {i}\n".encode())
    return size // len(line)


def test_last_lines_of_huge_logs_read_from_the_end(project: Path) -> None:
    write_config(project, {"api": {"cmd": "true"}, "web": {"cmd": "true"}})
    logs = project / ".devstack" / "logs"
    logs.mkdir(parents=True)
    _big_log(logs / "api.log", BIG // 2, "2026-01-01T10:00:00", "api")
    _big_log(logs / "web.log", BIG // 2, "2026-01-01T10:00:01", "web")
    began = time.monotonic()
    proc = subprocess.Popen([*DEVSTACK, "logs", "-n", "5"], cwd=project, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with rss_peak(proc.pid, every=0.005) as peak:
        out, err = proc.communicate(timeout=30)
    took = time.monotonic() - began
    assert proc.returncode == 0, err
    assert_clean_output(out, err)
    assert [line.split("| ")[1] for line in out.splitlines()] == [f"web last {i}" for i in range(5)], out
    assert peak.peak < 80 * 1024 * 1024, f"peak RSS {peak.peak / 1e6:.0f} MB on {BIG / 1e6:.0f} MB of logs"
    assert took < 5, f"{took:.1f} s"


def test_grep_and_since_read_from_the_end_too(project: Path) -> None:
    write_config(project, {"api": {"cmd": "true"}})
    logs = project / ".devstack" / "logs"
    logs.mkdir(parents=True)
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    old = "2020-01-01T00:00:00"
    new = "".join(f"{now} new {i} {'even' if i % 2 == 0 else 'odd'}\n" for i in range(10))
    (logs / "api.log").write_text("".join(f"{old} old {i}\n" for i in range(1000)) + new)
    run = subprocess.run([*DEVSTACK, "logs", "-n", "3", "--grep", "even", "--since", "1h"], cwd=project,
                         env=clean_env(), capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stderr
    assert [line.split("| ")[1] for line in run.stdout.splitlines()] == ["new 4 even", "new 6 even",
                                                                       "new 8 even"], run.stdout
    run = subprocess.run([*DEVSTACK, "logs", "--since", "1h"], cwd=project, env=clean_env(),
                         capture_output=True, text=True, timeout=20)
    assert len(run.stdout.splitlines()) == 10, run.stdout


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab\né"), max_size=12), max_size=12), st.booleans(),
       st.integers(1, 7))
def test_backward_reading_matches_a_plain_split(lines: list[str], final_newline: bool, block: int) -> None:
    data = "\n".join(lines).encode() + (b"\n" if final_newline and lines else b"")
    expected = data.split(b"\n")
    if data.endswith(b"\n"):
        expected.pop()
    if not data:
        expected = []
    saved = logfiles.BLOCK
    logfiles.BLOCK = block
    try:
        assert list(logfiles._backward(io.BytesIO(data))) == expected[::-1]
        assert list(logfiles._forward(io.BytesIO(data))) == expected
    finally:
        logfiles.BLOCK = saved


def test_an_overlong_line_is_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfiles, "LINE_LIMIT", 10)
    monkeypatch.setattr(logfiles, "BLOCK", 4)
    data = b"short\n" + b"y" * 100 + b"\nend\n"
    assert list(logfiles._backward(io.BytesIO(data))) == [b"end", b"y" * 10, b"short"]
    assert list(logfiles._forward(io.BytesIO(data))) == [b"short", b"y" * 10, b"end"]
    path = tmp_path / "a.log"
    os.mkfifo(path)  # never opened for reading (it would hang): refused
    with pytest.raises(StateError, match="is a named pipe, not a regular file"):
        list(logfiles.read_logs({"a": path}, lambda e: True))
