"""``devstack run``: a one-off command with a service's environment, cwd and ports, with and without a
running stack; stdin and the terminal passed through; its exit code; nothing left after it ends or is
interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import psutil
from conftest import python, wait_for
from helpers.stack import DEVSTACK, alive, clean_env, run_devstack, write_config

HTTP = f"{sys.executable} -m http.server ${{PORT}} --bind 127.0.0.1"
SHOW = "import os; e = os.environ.get; print('port', e('PORT'), 'url', e('WEB_URL'), 'cwd', os.getcwd(), " \
    "'x', e('X'), 'svc', e('DEVSTACK_SERVICE'))"


def stack(project: Path) -> None:
    (project / "sub").mkdir()
    write_config(project, {
        "web": {"cmd": HTTP, "cwd": "sub", "env": {"X": "${web.url}/x"}},
        "worker": {"cmd": "sleep 60", "port": False},
    })


def shown(text: str) -> dict[str, str]:
    words = text.split()
    return dict(zip(words[::2], words[1::2], strict=True))


def ports(project: Path) -> dict[str, dict[str, int]]:
    out = run_devstack(["ports", "--json"], project)
    return {s["name"]: s["ports"] for s in json.loads(out.stdout)["services"]}


def test_without_a_running_stack_it_gets_the_ports_the_stack_will_have(project: Path) -> None:
    stack(project)
    out = run_devstack(["run", "web", "--", *python(SHOW)], project)
    assert out.returncode == 0, out.stderr
    got = shown(out.stdout)
    port = int(got["port"])
    assert got == {"port": str(port), "url": f"http://127.0.0.1:{port}", "cwd": str(project / "sub"),
                   "x": f"http://127.0.0.1:{port}/x", "svc": "web"}
    assert ports(project)["web"] == {"port": port}  # persisted: the stack's first run uses it
    up = run_devstack(["up", "-d"], project)
    try:
        assert up.returncode == 0, up.stderr
        assert ports(project)["web"] == {"port": port}
    finally:
        run_devstack(["down"], project)


def test_with_a_running_stack_the_port_is_the_services(project: Path) -> None:
    stack(project)
    up = run_devstack(["up", "-d"], project)
    try:
        assert up.returncode == 0, up.stderr
        port = ports(project)["web"]["port"]
        # the service itself answers on the port the command was given
        fetch = "import os, urllib.request; print(urllib.request.urlopen(os.environ['PORT'] and " \
                "f\"http://127.0.0.1:{os.environ['PORT']}/\").status, os.environ['PORT'])"
        out = run_devstack(["run", "web", "--", *python(fetch)], project)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["200", str(port)]
        # the shared environment: every S_URL, in the current directory, no PORT of its own
        out = run_devstack(["run", "--", *python(SHOW)], project, env=clean_env(PORT="1"))
        got = shown(out.stdout)
        assert (got["url"], got["cwd"], got["svc"], got["port"]) == \
            (f"http://127.0.0.1:{port}", str(project), "None", "1")
    finally:
        run_devstack(["down"], project)


def test_the_socket_of_a_socket_activated_service_is_not_promised_to_the_command(project: Path) -> None:
    write_config(project, {"api": {"cmd": "sleep 60", "socket": True, "env": {"A": "1"}}})
    code = "import os; print(sorted(k for k in os.environ if k.startswith('LISTEN_')), os.environ['A'])"
    out = run_devstack(["run", "api", "--", *python(code)], project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "1"]


def test_the_exit_code_is_the_commands(project: Path) -> None:
    stack(project)
    assert run_devstack(["run", "worker", "--", "sh", "-c", "exit 7"], project).returncode == 7
    assert run_devstack(["run", "--", "sh", "-c", "kill -TERM $$"], project).returncode == 143
    out = run_devstack(["run", "worker", "--", "no-such-program-here"], project)
    assert out.returncode == 127 and "program not found: 'no-such-program-here'" in out.stderr
    out = run_devstack(["run", "worker"], project)
    assert out.returncode == 2 and "give the command after --" in out.stderr
    out = run_devstack(["run", "wrker", "--", "true"], project)
    assert out.returncode == 2 and 'did you mean "worker"' in out.stderr


def test_stdin_and_the_terminal_are_the_commands(project: Path) -> None:
    stack(project)
    out = subprocess.run([*DEVSTACK, "run", "worker", "--", *python("print(input()[::-1])")], cwd=project,
                         env=clean_env(), input="olleh\n", capture_output=True, text=True, timeout=20)
    assert out.stdout == "hello\n"
    code = "import os, sys; print('tty', os.isatty(0), os.isatty(1)); print('got', input('? '))"
    child = pexpect.spawn(DEVSTACK[0], [*DEVSTACK[1:], "run", "worker", "--", *python(code)],
                          cwd=str(project), env=clean_env(), timeout=20, encoding="utf-8")
    try:
        child.expect(r"tty True True")
        child.expect_exact("? ")
        child.sendline("typed")
        child.expect("got typed")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


LEAVES = "import os, subprocess, time\n" \
         "p = subprocess.Popen(['sleep', '60'], start_new_session=True)\n" \
         "print('left', p.pid, flush=True)\n" \
         "time.sleep(60)\n"


@contextlib.contextmanager
def leaving(project: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``devstack run`` of a command that starts a process in a session of its own (which no signal to
    the command's group reaches): devstack's process, and that process's pid."""
    proc = subprocess.Popen([*DEVSTACK, "run", "worker", "--", *python(LEAVES)], cwd=project,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        left = int(proc.stdout.readline().split()[1])
        assert alive(left)
        yield proc, left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_ctrl_c_during_run_leaves_nothing(project: Path) -> None:
    stack(project)
    with leaving(project) as (proc, left):
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
        assert proc.wait(10) == 130
        wait_for(lambda: not alive(left), timeout=5, message=f"the command's child {left} to be stopped")


def test_sigterm_to_devstack_is_passed_on_and_what_is_left_is_stopped(project: Path) -> None:
    stack(project)
    with leaving(project) as (proc, left):
        command = [p for p in psutil.Process(proc.pid).children() if p.pid != left][0]
        proc.send_signal(signal.SIGTERM)  # to devstack alone
        assert proc.wait(10) == 143
        wait_for(lambda: not alive(left) and not alive(command.pid), timeout=5, message="nothing left")
