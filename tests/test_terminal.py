"""What a user sees in the terminal running ``devstack up``: one ready line with every service's URL, a
live status line timed per service, and the first line after Ctrl-C on a line of its own. The real
command; a real terminal (a pty, through pexpect) where the output differs on one."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pexpect
from conftest import wait_for
from helpers.stack import DEVSTACK, Stack, clean_env, run_devstack, write_config

HTTP = f"{sys.executable} -m http.server ${{PORT}} --bind 127.0.0.1"
READY_LINE = r"devstack \| ready in (\d+\.\d\d) s"


def test_one_ready_line_with_every_services_url(project: Path) -> None:
    write_config(project, {
        "web": {"cmd": HTTP, "depends_on": {"api": "healthy"}},
        "api": {"cmd": HTTP},
        "worker": {"cmd": "sleep 60", "port": False},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(READY_LINE, timeout=20)
        ports = run_devstack(["ports", "--json"], project)
        assert ports.returncode == 0
        table = stack.output.split("ready in", 1)[1]
        for name in ("web", "api"):
            url = re.search(rf"^devstack \| {name} +(\d+) +(http://127\.0\.0\.1:\1) ", table, re.MULTILINE)
            assert url is not None, stack.output
        assert re.search(r"^devstack \| worker .* running", table, re.MULTILINE), stack.output
        # later changes stay one line each: a restart prints no second summary
        assert run_devstack(["restart", "api"], project).returncode == 0
        stack.wait_for_line(r"api restarted, healthy in")
        assert len(re.findall(READY_LINE, stack.output)) == 1


def test_the_ready_line_names_what_failed(project: Path) -> None:
    write_config(project, {"api": {"cmd": HTTP},
                           "broken": {"cmd": "exit 3", "restart": "no", "port": False}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"devstack \| 1 of 2 services ready in \d+\.\d\d s; not ready: broken",
                            timeout=20)


def _spawn(project: Path, *args: str) -> pexpect.spawn:
    return pexpect.spawn(DEVSTACK[0], [*DEVSTACK[1:], *args], cwd=str(project), env=clean_env(),
                         timeout=30, encoding="utf-8", dimensions=(40, 200))


def test_the_status_line_times_this_start_not_the_run(project: Path) -> None:
    # api takes a moment to listen, every time it starts: the status line shows it starting
    write_config(project, {"api": {"cmd": f"sleep 1; exec {HTTP}"}})
    child = _spawn(project, "up", "--no-timestamps")
    began = time.monotonic()
    try:
        child.expect(r"ready in")
        wait_for(lambda: time.monotonic() - began > 4, timeout=10, message="the run to be 4 s old")
        assert run_devstack(["restart", "api"], project).returncode == 0
        child.expect(r"api restarted, healthy in")
        shown = re.findall(r"api starting \((\d+\.\d) s\)", child.before)
        assert shown, child.before
        assert all(float(s) < 3 for s in shown), shown  # since this start: about 1 s, not 4 and more
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_the_first_line_after_ctrl_c_starts_on_a_line_of_its_own(project: Path) -> None:
    write_config(project, {"api": {"cmd": HTTP}})
    child = _spawn(project, "up", "--no-timestamps")
    try:
        child.expect(r"ready in")
        child.expect(r"LISTENING")
        child.expect(r"api +\d+")
        child.sendintr()
        child.expect(r"stopping \(SIGINT received")
        echoed = child.before
        assert "^C" in echoed, repr(echoed)
        after = echoed.split("^C", 1)[1]
        assert after.startswith(("\r\n", "\n")), repr(after)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130 or child.signalstatus is not None
