"""The merged output stream and the log files: the Printer in-process (exact bytes), then the real
command under load (every line exactly once, in order, untorn; memory bounded)."""

from __future__ import annotations

import os
import pty
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from conftest import python
from helpers.programs import flood
from helpers.stack import Stack, clean_env, run_devstack, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.output import CONTINUED_MARK, MAX_LINE, SPLIT_MARK, Printer, use_colour
from devstack.sanitize import clean

TIME = r"\d\d:\d\d:\d\d"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


MakeOut = Callable[..., "Captured"]


class Captured:
    """A Printer writing to a file, and what it wrote."""

    def __init__(self, tmp: Path, names: list[str], **kwargs: object) -> None:
        self.path = tmp / f"out-{time.monotonic_ns()}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        self.printer = Printer(names, fd=self.fd, **kwargs)  # type: ignore[arg-type]

    def text(self) -> str:
        return self.path.read_bytes().decode()

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def close(self) -> None:
        self.printer.close()
        os.close(self.fd)


@pytest.fixture
def out(tmp_path: Path) -> Iterator[MakeOut]:
    made: list[Captured] = []

    def make(names: list[str], **kwargs: object) -> Captured:
        made.append(Captured(tmp_path, names, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_prefix_pads_names_to_the_longest(out: MakeOut) -> None:
    c = out(["a", "worker-long-name"], timestamps=False)
    c.printer.sink("a").feed(b"one\ntwo\n")
    c.printer.sink("worker-long-name").feed(b"three\n")
    c.printer.event("a started")
    assert c.lines() == [
        "a                | one",
        "a                | two",
        "worker-long-name | three",
        "devstack         | a started",
    ]


def test_every_line_of_an_event_is_prefixed(tmp_path: Path, out: MakeOut) -> None:
    """A multi-line command in "started (pid N): CMD" must not leave unprefixed lines in the stream."""
    c = out(["web"], timestamps=False, log_dir=tmp_path / "logs")
    c.printer.event("web started: python -c '\nimport os\n'", "web")
    c.printer.close()
    assert c.lines() == ["devstack | web started: python -c '", "devstack | import os", "devstack | '"]
    log = (tmp_path / "logs" / "web.log").read_text().splitlines()
    assert all(re.match(rf"{ISO} devstack: ", line) for line in log), log


def test_short_names_pad_to_devstack(out: MakeOut) -> None:
    c = out(["a", "bb"], timestamps=False)
    c.printer.sink("bb").feed(b"x\n")
    assert c.lines() == ["bb       | x"]


def test_timestamps(out: MakeOut) -> None:
    c = out(["web"])
    c.printer.sink("web").feed(b"hello\n")
    c.printer.event("note")
    lines = c.lines()
    assert re.fullmatch(rf"{TIME} web      \| hello", lines[0]), lines
    assert re.fullmatch(rf"{TIME} devstack \| note", lines[1]), lines


def test_colour_only_when_asked(out: MakeOut) -> None:
    plain = out(["web"], timestamps=False)
    plain.printer.sink("web").feed(b"hi\n")
    assert "\x1b" not in plain.text()
    coloured = out(["web", "api"], timestamps=False, colour=True)
    coloured.printer.sink("web").feed(b"hi\n")
    coloured.printer.sink("api").feed(b"hi\n")
    coloured.printer.event("boom", error=True)
    assert coloured.lines() == [
        "\x1b[36mweb      |\x1b[0m hi",
        "\x1b[33mapi      |\x1b[0m hi",
        "\x1b[1;31mdevstack |\x1b[0m boom",
    ]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # a new file per example
@given(lines=st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
                      max_size=30),
       cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
       final_newline=st.booleans())
def test_lines_survive_any_chunking(tmp_path: Path, lines: list[bytes], cuts: list[int],
                                    final_newline: bool) -> None:
    """However the pipe cuts the stream, each line comes out once, whole, in order; invalid UTF-8 is
    replaced as Python's decoder does, control characters are dropped the same way whatever the cuts."""
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    c = Captured(tmp_path, ["s"], timestamps=False)
    try:
        sink = c.printer.sink("s")
        points = sorted({0, len(data), *(p % (len(data) + 1) for p in cuts)})
        for start, end in zip(points, points[1:], strict=False):
            sink.feed(data[start:end])
        sink.close()
        # control characters dropped, colour kept (devstack.sanitize), line by line
        expected = [f"s        | {clean(line.decode('utf-8', 'replace'))}" for line in lines]
        if lines and not final_newline and lines[-1] == b"":
            expected.pop()  # a stream ending in "\n" has no empty last line
        assert c.text().split("\n")[:-1] == expected
    finally:
        c.close()


def test_invalid_utf8_replaced_and_crlf(out: MakeOut) -> None:
    c = out(["s"], timestamps=False)
    sink = c.printer.sink("s")
    sink.feed(b"ok \xff\xfe end\r\nwindows\r\n\xe2\x82")  # the euro sign, cut in two by the pipe
    sink.feed(b"\xac\n")
    assert c.lines() == ["s        | ok \ufffd\ufffd end", "s        | windows", "s        | \u20ac"]


def test_carriage_returns_leave_the_line_a_terminal_would_show(tmp_path: Path, out: MakeOut) -> None:
    c = out(["s"], timestamps=False, log_dir=tmp_path / "logs")
    sink = c.printer.sink("s")
    sink.feed(b"get 10%\rget 55%\rget 100%\n")  # a progress bar redrawing itself
    sink.feed(b"abcdef\rXY\n")  # a shorter redraw leaves the tail, as on a terminal
    sink.feed(b"abcdef\rXY\x1b[K\n")  # ...unless it erases to the end of the line (the erase is then dropped)
    sink.feed(b"done\r\r\n\rleading\n")
    assert c.lines() == ["s        | get 100%", "s        | XYcdef", "s        | XY", "s        | done",
                         "s        | leading"]
    c.printer.close()
    logged = (tmp_path / "logs" / "s.log").read_text()
    assert "\r" not in logged and logged.count("\n") == 5 and "get 100%\n" in logged


def test_last_line_without_newline_is_kept(out: MakeOut) -> None:
    c = out(["s"], timestamps=False)
    sink = c.printer.sink("s")
    sink.feed(b"one\ntwo")
    assert c.lines() == ["s        | one"]
    sink.close()
    assert c.lines() == ["s        | one", "s        | two"]


def _pieces(lines: list[str], name: str = "s") -> list[str]:
    prefix = f"{name:<8} | "
    assert all(line.startswith(prefix) for line in lines), lines[:3]
    return [line[len(prefix):] for line in lines]


def test_line_of_max_length_is_not_split(out: MakeOut) -> None:
    c = out(["s"], timestamps=False)
    sink = c.printer.sink("s")
    sink.feed(b"x" * MAX_LINE)
    sink.feed(b"\ny" * 3 + b"\n")
    assert _pieces(c.lines()) == ["x" * MAX_LINE, "y", "y", "y"]


@pytest.mark.parametrize("chunk", [1000, MAX_LINE, 3 * MAX_LINE + 7], ids=["small", "max", "large"])
def test_long_line_split_and_marked(out: MakeOut, chunk: int) -> None:
    line = bytes(i % 26 + 97 for i in range(3 * MAX_LINE + 5))
    data = b"before\n" + line + b"\nafter\n"
    c = out(["s"], timestamps=False)
    sink = c.printer.sink("s")
    for i in range(0, len(data), chunk):
        sink.feed(data[i:i + chunk])
    pieces = _pieces(c.lines())
    assert pieces[0] == "before" and pieces[-1] == "after"
    middle = pieces[1:-1]
    assert len(middle) == 4
    assert middle[0].endswith(SPLIT_MARK) and not middle[0].startswith(CONTINUED_MARK)
    assert all(p.startswith(CONTINUED_MARK) and p.endswith(SPLIT_MARK) for p in middle[1:-1])
    assert middle[-1].startswith(CONTINUED_MARK) and not middle[-1].endswith(SPLIT_MARK)
    joined = "".join(p.removeprefix(CONTINUED_MARK).removesuffix(SPLIT_MARK) for p in middle)
    assert joined == line.decode()
    assert all(len(p.encode()) <= MAX_LINE + len(SPLIT_MARK) + len(CONTINUED_MARK) for p in middle)


def test_split_never_cuts_a_utf8_character(out: MakeOut) -> None:
    line = ("a" * (MAX_LINE - 1) + "é" * 10).encode()  # "é" is two bytes: one would straddle the cut
    c = out(["s"], timestamps=False)
    c.printer.sink("s").feed(line + b"\n")
    pieces = _pieces(c.lines())
    assert "\ufffd" not in "".join(pieces)
    assert pieces == ["a" * (MAX_LINE - 1) + SPLIT_MARK, CONTINUED_MARK + "é" * 10]


def test_log_file_gets_every_line_and_the_services_events(tmp_path: Path, out: MakeOut) -> None:
    logs = tmp_path / "logs"
    c = out(["web", "api"], log_dir=logs)
    c.printer.event("web started", "web")
    c.printer.sink("web").feed(b"one\ntwo\n")
    c.printer.sink("api").feed(b"other\n")
    c.printer.event("stack note")
    c.printer.close()
    web = (logs / "web.log").read_text().splitlines()
    assert [re.sub(rf"^{ISO} ", "", line) for line in web] == ["devstack: web started", "one", "two"]
    assert all(re.match(ISO, line) for line in web)
    assert (logs / "api.log").read_text().endswith(" other\n")
    assert "\x1b" not in (logs / "web.log").read_text()


def test_new_run_keeps_the_previous_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for run in ("first", "second"):
        p = Printer(["web"], fd=os.open(os.devnull, os.O_WRONLY), log_dir=logs)
        p.start_log("web")
        p.sink("web").feed(f"{run}\n".encode())
        p.close()
        os.close(p.fd)
    assert (logs / "web.log").read_text().endswith(" second\n")
    assert (logs / "web.log.1").read_text().endswith(" first\n")


def test_a_closed_reader_stops_the_stream_not_the_logs(tmp_path: Path) -> None:
    r, w = os.pipe()
    os.close(r)
    p = Printer(["web"], fd=w, log_dir=tmp_path)
    try:
        p.sink("web").feed(b"into the void\n")  # EPIPE, not an exception
        p.sink("web").feed(b"still logged\n")
    finally:
        p.close()
        os.close(w)
    assert (tmp_path / "web.log").read_text().count("\n") == 2


def test_use_colour(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(var, raising=False)
    master, slave = pty.openpty()
    with (tmp_path / "f").open("w") as f:
        try:
            assert use_colour(slave) is True
            assert use_colour(slave, no_colour_flag=True) is False
            assert use_colour(f.fileno()) is False
            monkeypatch.setenv("FORCE_COLOR", "1")
            assert use_colour(f.fileno()) is True
            monkeypatch.setenv("NO_COLOR", "1")
            assert use_colour(slave) is False
            assert use_colour(f.fileno()) is False
        finally:
            os.close(master)
            os.close(slave)


# -- the real command -------------------------------------------------------------------------------


def test_output_format_as_a_user_sees_it(project: Path) -> None:
    write_config(project, {
        "a": {"cmd": python("print('from a')")},
        "worker-long-name": {"cmd": "echo from worker; echo to stderr >&2"},
    })
    result = run_devstack(["up"], project)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    for line in lines:
        assert re.fullmatch(rf"{TIME} (a               |worker-long-name|devstack        ) \| .*", line), line
    body = [line[9:] for line in lines]
    assert "a                | from a" in body
    assert "worker-long-name | from worker" in body
    assert "worker-long-name | to stderr" in body
    assert any(re.fullmatch(r"devstack         \| a started \(pid \d+\): .*", b) for b in body)
    assert "devstack         | all services have ended" in body
    assert "\x1b" not in result.stdout  # not a terminal: no colour


def test_no_timestamps(project: Path) -> None:
    write_config(project, {"web": {"cmd": "echo hi"}})
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == 0
    assert "web      | hi\n" in result.stdout
    assert all(line.startswith(("web      | ", "devstack | ")) for line in result.stdout.splitlines())


@pytest.mark.parametrize("env, args, coloured", [
    ({"FORCE_COLOR": "1"}, [], True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, [], False),
    ({"FORCE_COLOR": "1"}, ["--no-color"], False),
], ids=["FORCE_COLOR", "NO_COLOR wins", "--no-color wins"])
def test_colour_switches(project: Path, env: dict[str, str], args: list[str], coloured: bool) -> None:
    write_config(project, {"web": {"cmd": "echo hi"}})
    result = run_devstack(["up", "--no-timestamps", *args], project, env=clean_env(**env))
    assert result.returncode == 0
    assert ("\x1b[36mweb      |\x1b[0m hi" in result.stdout) is coloured, result.stdout
    assert ("\x1b[" in result.stdout) is coloured


def test_colour_on_a_terminal(project: Path) -> None:
    write_config(project, {"web": {"cmd": "echo hi"}})
    master, slave = pty.openpty()
    try:
        with Stack(project, "up", "--no-timestamps", stdout=slave, read_fd=master) as stack:
            os.close(slave)
            slave = -1
            stack.wait_for_line(r"all services have ended")
            assert stack.wait() == 0
            assert "\x1b[36mweb      |\x1b[0m hi" in stack.output
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def test_long_lines_and_bad_bytes_through_the_real_command(project: Path) -> None:
    write_config(project, {"s": {"cmd": python(
        "import sys\n"
        "out = sys.stdout.buffer\n"
        f"out.write(b'z' * {MAX_LINE * 2 + 10} + b'\\n')\n"
        "out.write(b'bad \\xff\\xfe bytes\\n')\n"
        "out.write(b'no newline at the end')\n")}})
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == 0
    pieces = _pieces([line for line in result.stdout.splitlines() if line.startswith("s ")])
    assert pieces == [
        "z" * MAX_LINE + SPLIT_MARK,
        CONTINUED_MARK + "z" * MAX_LINE + SPLIT_MARK,
        CONTINUED_MARK + "z" * 10,
        "bad \ufffd\ufffd bytes",
        "no newline at the end",
    ]
    log = (project / ".devstack" / "logs" / "s.log").read_text()
    assert "bad \ufffd\ufffd bytes\n" in log and "no newline at the end\n" in log


LINES = 200_000


def _check_service_lines(lines: list[str], name: str, width: int) -> None:
    prefix = f"{name:<{width}} | {name} "
    payload = " " + "x" * 50
    mine = [line for line in lines if line.startswith(prefix)]
    assert len(mine) == LINES, (name, len(mine))
    for i, line in enumerate(mine):
        if line != f"{prefix}{i:07d}{payload}":
            raise AssertionError(f"{name}: line {i} is {line[:120]!r}")


@pytest.mark.slow
def test_two_services_flooding_at_once(project: Path) -> None:
    """200,000 lines from each of two services at the same time, written in chunks that cut lines
    anywhere: every line arrives once, whole, in order per service, on stdout and in the log files."""
    barrier = project / "barrier"
    barrier.mkdir()
    write_config(project, {name: {"cmd": flood(name, LINES, str(barrier))} for name in ("a", "b")})
    out = project / "stdout.txt"
    with Stack(project, "up", "--no-timestamps", stdout=out) as stack:
        assert stack.wait(timeout=40) == 0, stack.stderr
    lines = out.read_text().splitlines()
    other = [line for line in lines if not line.startswith(("a        | a ", "b        | b "))]
    assert all(line.startswith("devstack | ") for line in other), other[:5]
    _check_service_lines(lines, "a", 8)
    _check_service_lines(lines, "b", 8)
    # they really ran at once: their lines are interleaved
    first_b = next(i for i, line in enumerate(lines) if line.startswith("b        | b "))
    last_a = max(i for i, line in enumerate(lines) if line.startswith("a        | a "))
    assert first_b < last_a
    for name in ("a", "b"):
        log = (project / ".devstack" / "logs" / f"{name}.log").read_text().splitlines()
        body = [line[20:] for line in log if not line[20:].startswith("devstack: ")]
        assert body == [f"{name} {i:07d} {'x' * 50}" for i in range(LINES)]


def test_memory_stays_bounded_on_a_huge_line(project: Path) -> None:
    """A 20 MB line without a newline: devstack's RSS stays under 100 MB and the line comes out split
    into marked pieces that join back to the original."""
    size = 20 * 1024 * 1024
    write_config(project, {"huge": {"cmd": python(
        "import sys\n"
        "block = bytes(range(97, 123)) * 2521 + b'!'  # 65,547 bytes, not a divisor of 64 KiB\n"
        f"n = {size}\n"
        "while n > 0:\n"
        "    sys.stdout.buffer.write(block[:n])\n"
        "    n -= len(block)\n"
        "sys.stdout.flush()\n")}})
    out = project / "stdout.txt"
    peak = 0
    with Stack(project, "up", "--no-timestamps", stdout=out) as stack:
        proc = psutil.Process(stack.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, proc.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            code = stack.wait(timeout=30)
        finally:
            done.set()
            sampler.join()
    assert code == 0
    assert 0 < peak < 100 * 1024 * 1024, f"peak RSS {peak / 2**20:.1f} MiB"
    pieces = _pieces([line for line in out.read_text().splitlines() if line.startswith("huge ")],
                     "huge")
    assert len(pieces) == -(-size // MAX_LINE)
    assert all(p.endswith(SPLIT_MARK) for p in pieces[:-1])
    joined = "".join(p.removeprefix(CONTINUED_MARK).removesuffix(SPLIT_MARK) for p in pieces)
    block = bytes(range(97, 123)) * 2521 + b"!"
    assert joined.encode() == (block * (size // len(block) + 1))[:size]
