"""``devstack up``: what runs, with what environment, how its end is reported and what it exits with.
Black-box: the real command on a temporary project."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from conftest import python, wait_for
from helpers.programs import pids, sleeper
from helpers.stack import Stack, alive, run_devstack, write_config


def body(output: str) -> list[str]:
    """Output lines without their timestamps, trailing spaces of padding kept."""
    return [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in output.splitlines()]


def test_string_via_sh_array_directly_and_the_service_environment(project: Path) -> None:
    (project / "sub").mkdir()
    write_config(project, {
        "shell": {"cmd": "echo one && echo two-$DEVSTACK_SERVICE"},
        "direct": {
            "cmd": python("import os\n"
                          "print('pid', os.getpid())\n"
                          "for k in ('DEVSTACK_SERVICE', 'PYTHONUNBUFFERED', 'MINE', 'FROM_FILE'):\n"
                          "    print(k, os.environ.get(k))\n"
                          "print('cwd', os.getcwd())\n"),
            # a service cannot pretend to be another one: the marker is devstack's
            "env": {"MINE": "yes", "DEVSTACK_SERVICE": "someone-else"},
            "env_file": "local.env",
            "cwd": "sub",
        },
        "literal": {"cmd": ["echo", "a", "&&", "echo", "b"]},  # an array is argv: no shell
        "where": {"cmd": "pwd"},
    })
    (project / "local.env").write_text("FROM_FILE=loaded\n")
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == 0, result
    lines = body(result.stdout)
    assert "shell    | one" in lines
    assert "shell    | two-shell" in lines
    started = {m[0]: int(m[1]) for m in re.findall(r"devstack \| (\S+) started \(pid (\d+)\)", result.stdout)}
    assert set(started) == {"shell", "direct", "literal", "where"}
    assert f"direct   | pid {started['direct']}" in lines  # the program itself, not a shell around it
    assert "direct   | DEVSTACK_SERVICE direct" in lines
    assert "direct   | PYTHONUNBUFFERED 1" in lines
    assert "direct   | MINE yes" in lines
    assert "direct   | FROM_FILE loaded" in lines
    assert f"direct   | cwd {(project / 'sub').resolve()}" in lines
    assert "literal  | a && echo b" in lines
    assert f"where    | {project.resolve()}" in lines  # the config's directory by default
    for name in started:
        assert f"devstack | {name} exited with code 0" in lines
    assert lines[-1] == "devstack | all services have ended"
    assert "Traceback" not in result.stderr


def test_every_line_goes_to_the_log_file(project: Path) -> None:
    write_config(project, {"web": {"cmd": "echo first; echo second >&2; printf 'no newline'"}})
    result = run_devstack(["up"], project)
    assert result.returncode == 0
    log = (project / ".devstack" / "logs" / "web.log").read_text().splitlines()
    entries = [re.sub(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d ", "", line) for line in log]
    assert [e for e in entries if not e.startswith("devstack: ")] == ["first", "second", "no newline"]
    assert [e.split(" (")[0] for e in entries if e.startswith("devstack: ")] == [
        "devstack: web started", "devstack: web exited with code 0"]
    assert entries[-1] == "devstack: web exited with code 0"


def test_up_names_starts_only_those(project: Path) -> None:
    write_config(project, {name: {"cmd": f"touch {name}-ran"} for name in ("a", "b", "c")})
    result = run_devstack(["up", "c", "a"], project)
    assert result.returncode == 0, result
    assert (project / "a-ran").exists() and (project / "c-ran").exists()
    assert not (project / "b-ran").exists()
    assert "b started" not in result.stdout


def test_spawn_failure_is_reported(project: Path) -> None:
    write_config(project, {"ghost": {"cmd": ["no-such-program-for-devstack-tests"], "restart": "no"},
                           "fine": {"cmd": "true"}})
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == 1
    assert ("devstack | ghost failed to start: program not found: 'no-such-program-for-devstack-tests'"
            in result.stdout)
    assert "devstack | fine exited with code 0" in result.stdout


def test_a_service_that_ends_is_reported_and_the_rest_keep_running(project: Path) -> None:
    write_config(project, {"short": {"cmd": "echo bye; exit 3", "restart": "no"}, "long": {"cmd": sleeper()}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"^devstack \| short exited with code 3$")
        [pid] = stack.pids(1)
        assert alive(pid)
        assert stack.proc.poll() is None
        assert "stopping" not in stack.output
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
    assert not alive(pid)


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((0, 4), 1), ((0, "kill -9 $$$$"), 1)],
                         ids=["all 0", "one failed", "one killed"])
def test_exit_code_when_all_have_ended(project: Path, codes: tuple[int | str, ...], expected: int) -> None:
    write_config(project, {
        f"s{i}": {"cmd": code if isinstance(code, str) else f"exit {code}", "restart": "no"}
        for i, code in enumerate(codes)})
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == expected, result
    assert "devstack | all services have ended" in result.stdout
    if codes[1] == 4:
        assert "devstack | s1 exited with code 4" in result.stdout
    if codes[1] == "kill -9 $$$$":
        assert "devstack | s1 killed by SIGKILL" in result.stdout


@pytest.mark.parametrize("code", [0, 3])
def test_abort_on_exit(project: Path, code: int) -> None:
    """The stack stops when any service ends; the exit code is that of what ended, not of what
    devstack stopped."""
    write_config(project, {
        "long": {"cmd": python("import os, time\n"
                               "print(f'ready pid={os.getpid()}')\n"
                               "open('ready', 'w').close()\n"
                               "time.sleep(60)\n")},
        # ends once the other one is up, so that there is something to stop
        "short": {"cmd": f"until [ -e ready ]; do sleep 0.01; done; exit {code}", "restart": "no"},
    })
    with Stack(project, "up", "--no-timestamps", "--abort-on-exit") as stack:
        assert stack.wait() == (0 if code == 0 else 1)
    out = stack.output
    assert f"devstack | short exited with code {code}" in out
    assert "devstack | stopping (short ended and --abort-on-exit is set)" in out
    [pid] = pids(out)
    assert not alive(pid)
    assert re.search(r"^devstack \| long stopped \(SIGTERM, [\d.]+ s\)$", out, re.MULTILINE)
    assert out.rstrip().endswith("devstack | all services stopped")


def test_procfile_without_devstack_toml(project: Path) -> None:
    (project / "Procfile").write_text(
        "# a comment\n"
        "web: echo web says $GREETING && echo $DEVSTACK_SERVICE\n"
        f"worker: {sys.executable} -c 'print(2 + 2)'\n")
    (project / ".env").write_text("GREETING=hello\n")
    result = run_devstack(["up", "--no-timestamps"], project)
    assert result.returncode == 0, result
    lines = body(result.stdout)
    assert "web      | web says hello" in lines
    assert "web      | web" in lines
    assert "worker   | 4" in lines
    assert sorted(m for m in re.findall(r"devstack \| (\S+) started", result.stdout)) == ["web", "worker"]


def test_second_up_in_the_same_project_is_refused(project: Path) -> None:
    write_config(project, {"long": {"cmd": sleeper()}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("long")
        [pid] = stack.pids(1)
        second = run_devstack(["up"], project)
        assert second.returncode == 1, second
        assert f"devstack is already running for this project (pid {stack.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert second.stdout == ""
        # the first one is untouched
        assert alive(pid) and stack.proc.poll() is None
        assert stack.output.count("started (pid") == 1
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
    wait_for(lambda: not alive(pid), timeout=1, message="the service to be gone")


def test_a_project_locked_by_a_starting_devstack_refuses_a_second_up(project: Path) -> None:
    """Two ``devstack up`` at the same instant both pass the look at run.json before either has
    written it; the project lock (held for a devstack's whole life) lets one through. Here the test
    holds the lock, as a devstack still starting would, with no run.json yet."""
    write_config(project, {"long": {"cmd": sleeper()}})
    state = project / ".devstack"
    state.mkdir(mode=0o700)
    fd = os.open(state / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused = run_devstack(["up"], project)
        assert refused.returncode == 1, refused
        assert "devstack is already running for this project" in refused.stderr
        assert "started" not in refused.stdout and "Traceback" not in refused.stderr
    finally:
        os.close(fd)  # released: the next up goes through
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("long")
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
