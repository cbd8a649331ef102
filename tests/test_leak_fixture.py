"""The leak check itself: a daemon that double-forks and erases its environment (no DEVSTACK_* markers,
no test id) is still found, by ancestry (the test process is a child subreaper)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import SUBREAPER, TEST_ID_VAR, descendants, leaks, wait_for
from helpers.programs import ENV_CLEARING_DAEMON, pids


@pytest.mark.skipif(not SUBREAPER, reason="no child subreaper here (Linux only)")
def test_an_env_clearing_daemon_is_found(tmp_path: Path) -> None:
    before = descendants()
    script = tmp_path / "daemon.py"
    script.write_text(ENV_CLEARING_DAEMON)
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": "0", "DEVSTACK_SERVICE": "x"}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=10)
    [daemon] = pids(out.stdout, r"daemon pid=(\d+)")
    try:
        proc = psutil.Process(daemon)
        wait_for(lambda: "DEVSTACK_SERVICE" not in proc.environ(),
                 message="the daemon to erase its environment")
        assert proc.ppid() == os.getpid()  # re-parented to the test process, its subreaper
        assert daemon in leaks(os.environ[TEST_ID_VAR], before)
    finally:
        psutil.Process(daemon).kill()
        os.waitpid(daemon, 0)
