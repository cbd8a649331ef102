"""Ctrl-C at any moment of ``devstack up``'s start, the first few hundred milliseconds included, when
devstack is still importing its modules: exit 130 and one line (``devstack: interrupted``), never a
``KeyboardInterrupt`` traceback from inside devstack, nothing left running.

The only window devstack cannot reach is the interpreter's own start, before the first line of
devstack's code runs (site, ``.pth`` files, the console script's ``import re``): an interrupt there
ends Python as it always does (killed by SIGINT, or its own traceback through frozen modules). Such
runs are told apart by their traceback holding no frame of the devstack package."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers.stack import DEVSTACK, clean_env, write_config

from .kit import reps, wait_no_survivors

DELAYS = [i * 0.01 for i in range(0, 40)]  # 0 to 390 ms after the exec
OWN_FRAME = re.compile(r'File "[^"]*/devstack/[^"]*\.py"')


def test_ctrl_c_while_devstack_starts(project: Path) -> None:
    write_config(project, {"a": {"cmd": "sleep 30", "port": False}})
    outcomes: dict[str, int] = {}
    for attempt in range(reps(1, 5)):
        for delay in DELAYS:
            proc = subprocess.Popen([*DEVSTACK, "up", "--no-watch", "--no-timestamps"], cwd=project,
                                    env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            out, err = (x.decode("utf-8", "replace") for x in proc.communicate(timeout=20))
            where = f"SIGINT {delay * 1000:.0f} ms after the start (attempt {attempt}): {proc.returncode}\n" \
                    f"{out}\n{err}"
            assert not OWN_FRAME.search(err + out), where  # never a traceback out of devstack's code
            if "Traceback" in err or proc.returncode == -signal.SIGINT:
                outcomes["interpreter start"] = outcomes.get("interpreter start", 0) + 1
                continue
            assert proc.returncode == 130, where
            if err:  # interrupted before the supervisor took the signal over: one line
                assert err == "devstack: interrupted\n", where
                outcomes["imports"] = outcomes.get("imports", 0) + 1
            else:  # the supervisor's own shutdown, a line per step on stdout
                assert "stopping (SIGINT received" in out, where
                outcomes["supervisor"] = outcomes.get("supervisor", 0) + 1
            wait_no_survivors([], timeout=5, what=where)
    assert outcomes.get("imports", 0) >= 3, outcomes  # the window of the issue was hit


# A Ctrl-C that something on the way swallows: CPython drops a KeyboardInterrupt raised inside an
# import lock's weakref callback ("Exception ignored in ... cb"), and a library's bare ``except:`` around
# an import does the same. Both runs below swallow one for real, at the two places it can land.
SWALLOWED = """
import os, signal, sys
from devstack import entry
signal.signal(signal.SIGINT, entry._on_sigint)  # as entry.main() has it from its first line
try:
    os.kill(os.getpid(), signal.SIGINT)  # delivered here, raised, and lost:
    signal.pause()
except BaseException:
    pass
sys.argv = ["devstack", "up", "--no-watch", "--no-timestamps"]
{then}
"""


def _swallowed_run(project: Path, then: str) -> subprocess.CompletedProcess[str]:
    write_config(project, {"a": {"cmd": "sleep 30", "port": False}})
    return subprocess.run([sys.executable, "-c", SWALLOWED.format(then=then)], cwd=project,
                          env=clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=20)


def test_a_ctrl_c_swallowed_during_the_imports_still_ends_devstack(project: Path) -> None:
    done = _swallowed_run(project, "sys.exit(entry.main())")
    assert (done.returncode, done.stderr, done.stdout) == (130, "devstack: interrupted\n", "")


def test_a_ctrl_c_swallowed_before_the_supervisor_took_over_stops_the_stack(project: Path) -> None:
    done = _swallowed_run(project, "from devstack.cli import main\nsys.exit(main())")
    assert done.returncode == 130, done
    assert "stopping (SIGINT received" in done.stdout, done
    assert "Traceback" not in done.stderr + done.stdout, done
    wait_no_survivors([], timeout=5)
