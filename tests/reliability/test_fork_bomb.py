"""A fork bomb in one service, limited by RLIMIT_NPROC (``ulimit -u``): while it holds every process
slot, another service's start fails with EAGAIN ("Resource temporarily unavailable"); that is a
transient error, tried again with the crash backoff, never taken as final: once the bomb's processes
are gone, the crashing service starts again.

RLIMIT_NPROC counts the processes of a real user and does not bind root, so the stack runs as a user id
of its own (``setpriv``, root needed), in a project that user owns."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from conftest import wait_for
from helpers.stack import Stack, clean_env

from .kit import wait_no_survivors

SLOTS = 40  # processes (threads count too) the user may have
# for 4 s takes every process slot the user has, and each that frees up; then lets them go and ends
BOMB = """
import os, time
end = time.time() + 4
kids = 0
while time.time() < end and kids < 200:  # (a bound of its own, should the limit not hold)
    try:
        if os.fork() == 0:
            time.sleep(max(0, end - time.time()))
            os._exit(0)
        kids += 1
    except OSError:  # no slot left: take the next one that frees up
        time.sleep(0.005)
print("held", kids, "processes", flush=True)
while kids:
    os.wait()
    kids -= 1
print("released", flush=True)
"""


def as_user(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def interpreter_for(uid: int, env: dict[str, str]) -> str | None:
    """A Python that user can run with devstack importable: the test's own, or (a venv over a
    pyenv in root's home, unreadable to others) the system's of the same version."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, os.path.realpath(sys.executable), f"/usr/bin/{version}"):
        # through sh, as the stack runs it (setpriv's own exec can pass where its children's fail)
        probe = subprocess.run([*as_user(uid), "sh", "-c",
                                f"exec {candidate} -c 'import devstack.cli, psutil, re2, h11'"],
                               env=env, capture_output=True, cwd="/")
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture
def owned() -> Iterator[tuple[Path, int]]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("prlimit") is None:
        pytest.skip("needs root, setpriv and prlimit (util-linux) to run devstack as a user of its own")
    uid = random.randint(61000, 64000)
    root = Path(tempfile.mkdtemp(prefix="devstack-nproc-", dir="/tmp"))
    os.chown(root, uid, uid)
    try:
        yield root, uid
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_fork_bomb_does_not_stop_another_service_being_restarted(owned: tuple[Path, int]) -> None:
    project, uid = owned
    config = project / "devstack.toml"
    config.write_text(tomli_w.dumps({
        "devstack": {"restart_backoff": "100ms", "restart_backoff_max": "500ms"},
        "services": {
                    "bomb": {"cmd": ["python3", "-c", BOMB], "port": False, "restart": "no"},
            "crasher": {"cmd": "echo crash; sleep 0.3; exit 1", "port": False, "restart": "always"},
        }}))
    os.chown(config, uid, uid)
    import devstack

    packages = [str(Path(devstack.__file__).parent.parent), *(p for p in sys.path if "site-packages" in p)]
    env = clean_env(HOME=str(project), XDG_STATE_HOME=str(project / "state"),
                    PYTHONPATH=os.pathsep.join(packages))
    env.pop("XDG_RUNTIME_DIR", None)
    python = interpreter_for(uid, env)
    if python is None:
        pytest.skip(f"no Python with devstack's packages that user {uid} may run")
    # run as `python -m devstack` (the console script's interpreter may not be that user's to run)
    wrap = ["prlimit", f"--nproc={SLOTS}:{SLOTS}", "--", *as_user(uid),
            "sh", "-c", f'shift; exec {python} -m devstack "$@"', "sh"]
    with Stack(project, "up", "--no-timestamps", "--no-watch", env=env, wrap=wrap) as stack:
        try:
            stack.wait_for_line(r"crasher failed to start: .*Resource temporarily unavailable", timeout=30)
        except AssertionError:
            raise AssertionError(stack.output[:1500] + "..." + stack.output[-1500:]) from None
        stack.wait_for_line(r"bomb\s+\| released", timeout=30)
        stack.wait_for_line(r"bomb exited with code 0", timeout=30)
        after = stack.output.rindex("bomb exited with code 0")
        wait_for(lambda: stack.output.count("crasher started", after) >= 2, timeout=30,
                 message=f"crasher restarted after the bomb ended:\n{stack.output[-3000:]}")
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=20) == 130
    out = stack.output + stack.stderr
    assert "given up" not in out and "Traceback" not in out, out[-3000:]
    wait_no_survivors([], timeout=10)
