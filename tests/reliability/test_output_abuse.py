"""Output abuse, all at once in one stack: a flood (100 MB by default, 1 GB in soak mode), a 20 MB line
without a newline, invalid UTF-8, and a service that closes its stdout and stderr and keeps running.
devstack's RSS stays under 100 MB throughout (sampled with psutil), every flood line arrives whole and
in order in the service's log file, the huge line comes out in marked pieces, and the closed service
still counts as running."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import python, wait_for
from helpers.stack import Stack, write_config

from devstack.control.client import request

from .kit import SOAK, control_socket, rss_peak

FLOOD_MB = 1024 if SOAK else 100
LINE = 1000  # bytes per flood line, newline included
HUGE = 20 * 1024 * 1024


def test_devstack_memory_stays_bounded_under_every_kind_of_abuse(project: Path) -> None:
    lines = FLOOD_MB * 1024 * 1024 // LINE
    write_config(project, {
        "flood": {"cmd": python(
            "import sys\n"
            f"pad = b'x' * {LINE - 12}\n"
            "out = sys.stdout.buffer\n"
            f"for i in range({lines}):\n"
            "    out.write(b'%010d ' % i + pad + b'\\n')\n"
            "out.flush()\n"), "port": False, "restart": "no"},
        "huge": {"cmd": python(
            "import sys\n"
            "block = b'abcdefghijklmnopqrstuvwxyz' * 2521 + b'!'\n"
            f"n = {HUGE}\n"
            "while n > 0:\n"
            "    sys.stdout.buffer.write(block[:n])\n"
            "    n -= len(block)\n"
            "sys.stdout.flush()\n"), "port": False, "restart": "no"},
        "binary": {"cmd": python(
            "import sys\n"
            "for i in range(2000):\n"
            "    sys.stdout.buffer.write(b'bad \\xff\\xfe\\xc3 bytes %d\\n' % i)\n"), "port": False,
            "restart": "no"},
        "mute": {"cmd": python(
            "import os, time\n"
            "print('closing', flush=True)\n"
            "os.close(1); os.close(2)\n"
            "open('muted', 'w').close()\n"
            "time.sleep(60)\n"), "port": False},
    })
    out = Path("/dev/null") if SOAK else project / "stdout.txt"
    with Stack(project, "up", "--no-timestamps", "--no-watch", stdout=out) as stack:
        control_socket(project)
        with rss_peak(stack.pid) as rss:
            wait_for(lambda: (project / "muted").exists(), timeout=20, message="mute to close its output")
            # the flood, the huge line and the bad bytes all end; mute keeps running
            logs = project / ".devstack" / "logs"

            def ended() -> bool:
                snap = {s["name"]: s for s in request(project / ".devstack", "GET", "/status")["services"]}
                assert snap["mute"]["state"] == "running", snap["mute"]
                return all(snap[n]["state"] == "exited" for n in ("flood", "huge", "binary"))

            wait_for(ended, timeout=600 if SOAK else 120, interval=0.2, message="the abusers to end")
        stack.send(signal.SIGTERM)
        assert stack.wait(timeout=20) == 143, stack.stderr
    assert rss.samples > 10 and 0 < rss.peak < 100 * 1024 * 1024, f"peak RSS {rss.peak / 2**20:.1f} MiB"
    # the flood: in the log files (capped at 64 MB, the one before kept as .log.1), the lines they keep,
    # contiguous and whole, up to the very last; on stdout (default mode), every line once, in order
    kept = [raw.split(b" ", 1)[1] for raw in log_lines(logs, "flood")]
    kept = [body for body in kept if not body.startswith(b"devstack: ")]
    first = lines - len(kept)
    assert kept == [flood_line(i) for i in range(first, lines)] and len(kept) > 10_000
    if not SOAK:
        prefix = b"flood    | "
        with out.open("rb") as printed:
            got = (raw[len(prefix):] for raw in printed if raw.startswith(prefix))
            count = 0
            for count, body in enumerate(got, 1):
                if body != flood_line(count - 1):
                    raise AssertionError(f"line {count - 1}: {body[:80]!r}")
        assert count == lines
    # the huge line: marked pieces, nothing lost
    pieces = [line.split(b" ", 1)[1].decode() for line in log_lines(logs, "huge")]
    pieces = [p.rstrip("\n") for p in pieces if not p.startswith("devstack: ")]
    assert all(p.endswith(" [line split]") for p in pieces[:-1]) and len(pieces) > 1
    joined = "".join(p.removeprefix("[continued] ").removesuffix(" [line split]") for p in pieces)
    assert len(joined) == HUGE
    binary = (logs / "binary.log").read_text()
    assert binary.count("bad \ufffd\ufffd\ufffd bytes") == 2000
    assert "closing" in (logs / "mute.log").read_text()


def flood_line(i: int) -> bytes:
    return b"%010d " % i + b"x" * (LINE - 12) + b"\n"


def log_lines(logs: Path, name: str) -> list[bytes]:
    out: list[bytes] = []
    for path in (logs / f"{name}.log.1", logs / f"{name}.log"):
        if path.exists():
            out.extend(path.read_bytes().splitlines(keepends=True))
    return out
