"""``interactive = true`` and ``devstack attach``, driven through a real pty (pexpect): what is typed
reaches the service and its answer is seen, a pdb breakpoint is usable, detaching leaves the service
running, a window size change is passed on, and the merged stream notes each attach."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import python, wait_for
from helpers.nobody import as_nobody
from helpers.stack import DEVSTACK, clean_env, run_devstack, write_config

ASK = "import time\nname = input('name? ')\nprint('hello', name[::-1])\ntime.sleep(60)\n"
PDB = "import time\nx = 41\nbreakpoint()\nprint('after', x)\ntime.sleep(60)\n"
SIZE = ("import os, signal, time\n"
        "signal.signal(signal.SIGWINCH, lambda *_: print('size %dx%d' % tuple(os.get_terminal_size(0)), "
        "flush=True))\n"
        "print('waiting', flush=True)\n"
        "time.sleep(60)\n")
DETACH = "\x10\x11"  # Ctrl-P Ctrl-Q


def interactive(code: str) -> dict[str, object]:
    return {"cmd": python(code), "port": False, "interactive": True, "restart": "no"}


@pytest.fixture
def stack(project: Path) -> Iterator[Path]:
    write_config(project, {"ask": interactive(ASK), "debug": interactive(PDB), "size": interactive(SIZE),
                           "plain": {"cmd": "sleep 60", "port": False}})
    up = run_devstack(["up", "-d"], project)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield project
    finally:
        run_devstack(["down"], project)


def attach(project: Path, name: str) -> pexpect.spawn:
    return pexpect.spawn(DEVSTACK[0], [*DEVSTACK[1:], "attach", name], cwd=str(project), env=clean_env(),
                         timeout=15, encoding="utf-8", dimensions=(24, 80))


def status(project: Path) -> dict[str, dict[str, object]]:
    out = run_devstack(["status", "--json"], project)
    return {s["name"]: s for s in json.loads(out.stdout)["services"]}


def log(project: Path, name: str) -> str:
    return (project / ".devstack" / "logs" / f"{name}.log").read_text()


def test_typed_text_reaches_the_service_and_detaching_leaves_it_running(stack: Path) -> None:
    pid = status(stack)["ask"]["pid"]
    child = attach(stack, "ask")
    try:
        child.expect_exact("Ctrl-P Ctrl-Q detaches")
        child.expect_exact("name? ")  # the line the service is on, shown on attaching
        child.sendline("dlrow")
        child.expect_exact("hello world")
        child.send(DETACH)
        child.expect_exact("detached from ask; it keeps running")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    after = status(stack)["ask"]
    assert (after["state"], after["pid"]) == ("running", pid)
    # the merged stream (and the service's log) says who was attached, and shows the exchange
    text = wait_for(lambda: (t := log(stack, "ask")) and "the terminal detached" in t and t,
                    message="the detach note in ask's log")
    assert "ask: a terminal attached (devstack attach)" in text
    assert "ask runs on a terminal of its own: devstack attach ask connects yours" in text
    assert "name? dlrow" in text and "hello world" in text


def test_a_pdb_breakpoint_is_usable(stack: Path) -> None:
    child = attach(stack, "debug")
    try:
        child.expect_exact("(Pdb) ")
        child.sendline("p x + 1")
        child.expect_exact("42")
        child.expect_exact("(Pdb) ")
        child.sendline("x = 7")
        child.expect_exact("(Pdb) ")
        child.sendline("c")
        child.expect_exact("after 7")
        child.send(DETACH)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert status(stack)["debug"]["state"] == "running"


def test_a_window_size_change_is_passed_on(stack: Path) -> None:
    child = attach(stack, "size")
    try:
        child.expect_exact("Ctrl-P Ctrl-Q detaches")
        wait_for(lambda: "waiting" in log(stack, "size"), message="the service to be set up")
        child.setwinsize(33, 101)
        child.expect_exact("size 101x33")
        child.send(DETACH)
        child.expect(pexpect.EOF)
    finally:
        child.close()


def test_ctrl_c_goes_to_the_service_not_to_attach(stack: Path) -> None:
    child = attach(stack, "ask")
    try:
        child.expect_exact("name? ")
        child.sendintr()  # raw mode: Ctrl-C is a key for the service's terminal, which makes it SIGINT
        child.expect_exact("KeyboardInterrupt")
        child.expect_exact("terminal closed (it ended, or the stack stopped)")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    wait_for(lambda: status(stack)["ask"]["state"] == "exited", message="ask to have exited")


def test_attaching_to_a_service_that_is_not_interactive_says_how(stack: Path) -> None:
    out = run_devstack(["attach", "plain"], stack)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "devstack: plain is not interactive: set interactive = true in [services.plain] (devstack.toml, "
        "or your devstack.local.toml) and start the stack again, so that it runs on a terminal of its own")
    out = run_devstack(["attach", "ak"], stack)
    assert out.returncode == 2 and 'did you mean "ask"' in out.stderr


def test_attach_without_a_stack_says_so(project: Path) -> None:
    write_config(project, {"ask": interactive(ASK)})
    out = run_devstack(["attach", "ask"], project)
    assert out.returncode == 1 and "no stack is running" in out.stderr


def test_another_user_cannot_attach(stack: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    sock = stack / ".devstack" / "control.sock"
    shared = Path(tempfile.mkdtemp(prefix="devstack-test-"))  # a path any user may walk
    try:
        shared.chmod(0o755)
        link = shared / "control.sock"
        os.link(sock, link)
        sock.chmod(0o666)  # opened up by hand: the server itself still turns the other uid away
        answer = as_nobody(link, "POST", "/attach?name=ask")
        assert " 403 " in answer and "this stack belongs to another user" in answer, answer
    finally:
        sock.chmod(0o600)
        shutil.rmtree(shared)
