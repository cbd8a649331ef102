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
