"""``devstack logs``: the running stack's memory (``-n``, ``--grep``, ``--since``, ``-f``, ``--json``), and
the log files once it has stopped."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

from conftest import wait_for
from helpers.stack import DEVSTACK, Stack, clean_env, run_devstack, write_config

# one numbered line every 20 ms, for as long as it runs
COUNTER = {"cmd": 'i=0; while :; do i=$((i+1)); echo "count $i"; sleep 0.02; done', "port": False}


def logs(project: Path, *args: str) -> list[str]:
    out = run_devstack(["logs", *args], project)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out
    return out.stdout.splitlines()


def counts(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.search(r"\| count (\d+)$", line))]


def test_logs_of_a_running_stack(project: Path) -> None:
    write_config(project, {"counter": COUNTER,
                           "other": {"cmd": "echo hello from other; echo ERROR: disk full; sleep 60",
                                     "port": False}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"counter\s+\| count 30$")
        stack.wait_for_line(r"other\s+\| ERROR: disk full")

        everything = logs(project)
        assert any(re.fullmatch(r"\d\d:\d\d:\d\d other\s+\| hello from other", line) for line in everything)
        assert counts(everything)[:30] == list(range(1, 31))  # in order, none lost

        last = logs(project, "counter", "-n", "5")
        assert len(last) == 5 and counts(last) == list(range(counts(last)[0], counts(last)[0] + 5))
        assert counts(last)[0] > 25

        assert logs(project, "--grep", "ERROR|hello") == [
            line for line in everything if "ERROR" in line or "hello" in line]
        assert logs(project, "--grep", "count 1$", "-n", "1") == [
            line for line in everything if line.endswith("count 1")]

        entries = [json.loads(line) for line in logs(project, "other", "--json")]
        started, *said = [e["line"] for e in entries]  # devstack's own lines about it too, as in its log
        assert said == ["hello from other", "ERROR: disk full"]
        pid = stack.started("other")["other"]
        assert re.fullmatch(rf"devstack: other started \(pid {pid}\): echo .*", started), started
        assert {e["service"] for e in entries} == {"other"} and all(e["time"] > 0 for e in entries)

        # --since: lines from before the window are left out
        marked = json.loads(logs(project, "counter", "-n", "1", "--json")[0])
        mark = int(marked["line"].split()[1])
        wait_for(lambda: time.time() > marked["time"] + 1.5, message="1.5 s to pass")
        recent = counts(logs(project, "counter", "--since", "1s"))
        assert recent and recent[0] > mark and recent == list(range(recent[0], recent[-1] + 1))

        out = run_devstack(["logs", "--grep", "("], project)
        assert out.returncode == 2 and "not a valid regular expression" in out.stderr


def test_logs_follow_prints_new_lines_until_the_reader_stops(project: Path) -> None:
    write_config(project, {"counter": COUNTER, "quiet": {"cmd": "sleep 60", "port": False}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"counter\s+\| count 5$")
        lines: list[str] = []
        with subprocess.Popen([*DEVSTACK, "logs", "-f", "-n", "2", "--grep", "count", "counter"],
                              cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as follower:
            def read() -> None:
                assert follower.stdout is not None
                for line in follower.stdout:
                    lines.append(line.rstrip("\n"))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            try:
                wait_for(lambda: len(counts(lines)) >= 20, message=f"20 followed lines, got {lines}")
                got = counts(lines)
                assert got == list(range(got[0], got[0] + len(got)))  # the last 2, then each new one
                assert len(lines) == len(got)  # --grep applies to followed lines too
                assert follower.poll() is None  # still following
            finally:
                follower.terminate()
                follower.wait(10)
                reader.join(5)
            assert follower.stderr is not None and "Traceback" not in follower.stderr.read()
        assert stack.proc.poll() is None  # a reader going away never hurts the stack
        # the stack lets go of a follower that went away: a new one still works
        assert len(logs(project, "counter", "-n", "3")) == 3


def test_logs_read_the_files_once_the_stack_has_stopped(project: Path) -> None:
    write_config(project, {"a": {"cmd": "echo first a; echo second a", "port": False, "restart": "no"},
                           "b": {"cmd": "echo only b", "port": False, "restart": "no"}})
    out = run_devstack(["up", "--no-timestamps"], project)
    assert out.returncode == 0, out
    both = logs(project)
    texts = [line.split("| ", 1)[1] for line in both]
    # the files also hold devstack's own lines about each service
    assert "devstack: b started" in "\n".join(texts) and "devstack: a exited with code 0" in "\n".join(texts)
    assert "first a" in texts and "second a" in texts and "only b" in texts
    assert texts.index("first a") < texts.index("second a")
    assert all(re.match(r"\d\d:\d\d:\d\d (a|b)\s+\| ", line) for line in both)
    assert [line.split("| ", 1)[1] for line in logs(project, "a", "--grep", "^second")] == ["second a"]
    assert len(logs(project, "a", "-n", "1")) == 1
    assert logs(project, "--since", "1m") and logs(project, "b", "--since", "1m")
    entries = [json.loads(line) for line in logs(project, "b", "--json", "--grep", "^only")]
    assert entries == [{"time": entries[0]["time"], "service": "b", "line": "only b"}]
    assert abs(entries[0]["time"] - time.time()) < 60
    follow = run_devstack(["logs", "-f"], project)
    assert follow.returncode == 1 and "nothing to follow" in follow.stderr
