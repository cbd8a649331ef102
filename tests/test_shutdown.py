"""Stopping a stack, and nothing left behind, ever: signals to devstack, stop_signal / stop_timeout,
a second Ctrl-C, shell grandchildren, double-forking daemons, SIGKILL of devstack (the guardian), and
a later run reaping what an earlier one could not. Black-box: real processes and real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import python, wait_for
from helpers.programs import ENV_CLEARING_DAEMON, daemon, ignore_term, sh, sleeper
from helpers.stack import Stack, alive, clean_env, guardian_of, run_devstack, write_config


def all_gone(pids: list[int]) -> bool:
    return not any(alive(pid) for pid in pids)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_stops_every_service(project: Path, sig: signal.Signals, code: int) -> None:
    """Each service's process group is stopped (a shell's grandchild included), a double-forked
    daemon too, and devstack exits only once all of it is gone."""
    write_config(project, {
        "shell": {"cmd": f"{sh(sleeper())} & wait"},  # the shell leads; python is its child
        "direct": {"cmd": sleeper()},
        "daemon": {"cmd": daemon()},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        leaders = stack.started("shell", "direct", "daemon")
        children = stack.pids(3)
        [daemon_pid] = stack.pids(1, r"daemon pid=(\d+)")
        everything = [*leaders.values(), *children, daemon_pid]
        assert not all_gone(everything)
        stack.send(sig)
        assert stack.wait() == code
        # gone when devstack returns: it confirms, it does not hope
        assert [pid for pid in everything if alive(pid)] == []
    out = stack.output
    assert f"devstack | stopping ({sig.name} received; press Ctrl-C again to kill at once)" in out
    for name in ("shell", "direct", "daemon"):
        assert f"devstack | {name} stopped (SIGTERM, " in out
    assert out.rstrip().endswith("devstack | all services stopped")
    assert not (project / ".devstack" / "run.json").exists()


def test_service_ignoring_sigterm_is_killed_after_stop_timeout(project: Path) -> None:
    write_config(project, {"stubborn": {"cmd": ignore_term(), "stop_timeout": "300ms"},
                           "polite": {"cmd": sleeper()}})
    with Stack(project, "up", "--no-timestamps") as stack:
        leaders = stack.started("stubborn", "polite")
        stack.pids(2)
        stack.send(signal.SIGTERM)
        began = time.monotonic()
        assert stack.wait() == 143
        took = time.monotonic() - began
    out = stack.output
    assert ("devstack | stubborn did not stop within 0.3 s of SIGTERM: killed with SIGKILL "
            "(raise stop_timeout, or set stop_signal to one it handles)") in out
    assert "devstack | polite stopped (SIGTERM, " in out
    assert all_gone(list(leaders.values()))
    assert took < 4, f"stopping took {took:.1f} s with stop_timeout = 0.3 s"


def test_custom_stop_signal(project: Path) -> None:
    """stop_signal = "SIGINT" reaches the service (which ignores SIGTERM, so a SIGTERM would show)."""
    write_config(project, {"app": {
        "cmd": python("import os, signal, sys, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "def bye(sig, frame):\n"
                      "    print('got', signal.Signals(sig).name)\n"
                      "    sys.exit(0)\n"
                      "signal.signal(signal.SIGINT, bye)\n"
                      "print(f'ready pid={os.getpid()}')\n"
                      "time.sleep(60)\n"),
        "stop_signal": "SIGINT",
        "stop_timeout": 10,
    }})
    with Stack(project, "up", "--no-timestamps") as stack:
        [pid] = stack.pids(1)
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
    assert "app      | got SIGINT" in stack.output
    assert "devstack | app stopped (SIGINT, " in stack.output
    assert not alive(pid)


def test_output_printed_while_stopping_is_kept(project: Path) -> None:
    """What a service prints on its way out (after the stop signal, right before it exits) is read
    before its pipe is closed: every line, on the stream and in the log."""
    write_config(project, {"app": {"cmd": python(
        "import os, signal, sys, time\n"
        "def bye(sig, frame):\n"
        "    sys.stdout.write(''.join(f'bye {i}\\n' for i in range(5000)))\n"
        "    sys.stdout.flush()\n"
        "    os._exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print(f'ready pid={os.getpid()}')\n"
        "time.sleep(60)\n")}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.pids(1)
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
    byes = [line for line in stack.output.splitlines() if line.startswith("app      | bye ")]
    assert byes == [f"app      | bye {i}" for i in range(5000)]
    log = (project / ".devstack" / "logs" / "app.log").read_text()
    assert log.count(" bye ") == 5000


def test_second_sigint_kills_at_once(project: Path) -> None:
    write_config(project, {"stubborn": {"cmd": ignore_term(), "stop_timeout": 30}})
    with Stack(project, "up", "--no-timestamps") as stack:
        [pid] = stack.pids(1)
        stack.send(signal.SIGINT)
        stack.wait_for_line(r"^devstack \| stopping \(SIGINT received")
        assert alive(pid)  # still waiting out its 30 s
        stack.send(signal.SIGINT)
        began = time.monotonic()
        assert stack.wait(timeout=10) == 130
        took = time.monotonic() - began
    assert "devstack | second interrupt: killing every service now" in stack.output
    assert "devstack | stubborn killed (second interrupt)" in stack.output
    assert not alive(pid)
    assert took < 5, f"the second interrupt took {took:.1f} s"


def test_service_that_daemonises_and_exits_is_followed_then_stopped(project: Path) -> None:
    """Its first process exits 0 leaving a daemon: the service goes on as the daemon (status shows
    it running, with the daemon's pid) until the stack stops, which stops the daemon."""
    write_config(project, {"forker": {"cmd": daemon(then_exit=True), "port": False}})
    with Stack(project, "up", "--no-timestamps") as stack:
        [daemon_pid] = stack.pids(1, r"daemon pid=(\d+)")
        stack.wait_for_line(r"forker: its first process exited 0 and left 1 running .* following them")
        status = json.loads(run_devstack(["status", "--json"], project).stdout)
        [forker] = status["services"]
        assert forker["state"] == "running" and forker["pid"] == daemon_pid, forker
        assert alive(daemon_pid)
        stack.send(signal.SIGINT)
        assert stack.wait() == 130
    assert not alive(daemon_pid)
    assert "forker exited with code 0" not in stack.output


def test_sigkill_of_devstack_leaves_nothing(project: Path) -> None:
    """SIGKILL cannot be caught: the guardian sees devstack go and stops everything of the run,
    grandchildren, daemons and processes that ignore SIGTERM included, within 2 s."""
    write_config(project, {
        "shell": {"cmd": f"{sh(sleeper())} & wait"},
        "stubborn": {"cmd": ignore_term()},
        "daemon": {"cmd": daemon(ignore_sigterm=True)},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        leaders = stack.started("shell", "stubborn", "daemon")
        children = stack.pids(3)
        [daemon_pid] = stack.pids(1, r"daemon pid=(\d+)")
        guardian = guardian_of(stack.pid)
        everything = [*leaders.values(), *children, daemon_pid]
        assert all(alive(pid) for pid in everything)
        stack.send(signal.SIGKILL)
        assert stack.wait() == -signal.SIGKILL
        wait_for(lambda: all_gone(everything), timeout=2.0,
                 message=f"every process of the run to be gone: {[p for p in everything if alive(p)]}")
        wait_for(lambda: not alive(guardian.pid), timeout=2.0, message="the guardian to exit")


def test_a_killed_guardian_is_replaced(project: Path) -> None:
    """SIGKILL of the guardian, then of devstack: devstack noticed its guardian die and started a new
    one, told of every process of the run (a daemon that erased its environment included), which stops
    them all when devstack is killed in its turn."""
    (project / "daemon.py").write_text(ENV_CLEARING_DAEMON)
    write_config(project, {
        "shell": {"cmd": f"{sh(sleeper())} & wait", "port": False},
        "stubborn": {"cmd": ignore_term(), "port": False},
        "envclear": {"cmd": [sys.executable, "daemon.py"], "health": {"tcp": True}},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        leaders = stack.started("shell", "stubborn", "envclear")
        children = stack.pids(2)
        [daemon_pid] = stack.pids(1, r"daemon pid=(\d+)")
        # followed, with cgroups; without, started at the same moment as the others, the daemon is the
        # run's (README: the process tree): either way the guardian must know it
        stack.wait_for_line(r"envclear: its first process exited 0|envclear exited with code 0")
        first = guardian_of(stack.pid)
        first.kill()
        stack.wait_for_line(rf"the guardian \(pid {first.pid}\) ended unexpectedly \(killed by SIGKILL\); "
                            r"starting a new one")
        second = wait_for(lambda: (g := guardian_of(stack.pid)).pid != first.pid and g, timeout=5,
                          message="a new guardian")
        everything = [*leaders.values(), *children, daemon_pid]
        assert all(alive(pid) for pid in everything if pid != leaders["envclear"])
        stack.send(signal.SIGKILL)
        assert stack.wait() == -signal.SIGKILL
        wait_for(lambda: all_gone(everything), timeout=5.0,
                 message=f"every process of the run to be gone: {[p for p in everything if alive(p)]}")
        wait_for(lambda: not alive(second.pid), timeout=2.0, message="the new guardian to exit")


def test_later_run_reaps_what_an_earlier_one_left(project: Path) -> None:
    """devstack and its guardian both SIGKILLed at once: what survives (a process ignoring SIGTERM, a
    daemon) is stopped by the next ``devstack up`` in the project. Unrelated processes are never
    touched, even one that looks like a service of another run, or one that a forged run.json names
    with its real start time (as the supervisor, and in the process groups older versions recorded)."""
    write_config(project, {
        "stubborn": {"cmd": ignore_term()},
        "daemon": {"cmd": daemon(ignore_sigterm=True)},
        "quick": {"cmd": "echo quick ran"},
    })
    lookalike = subprocess.Popen(
        python("import time; time.sleep(60)"), stdin=subprocess.DEVNULL,
        env=clean_env(DEVSTACK_SERVICE="stubborn", DEVSTACK_RUN="0123456789abcdef"))
    bystander = subprocess.Popen(python("import time; time.sleep(60)"), stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    try:
        with Stack(project, "up", "stubborn", "daemon") as first:
            [stubborn_pid] = first.pids(1, r"stubborn\s+\| ready pid=(\d+)")
            [daemon_pid] = first.pids(1, r"daemon pid=(\d+)")
            guardian = guardian_of(first.pid)
            guardian.kill()
            first.send(signal.SIGKILL)  # before it can start a new guardian
            assert first.wait() == -signal.SIGKILL
        # PR_SET_PDEATHSIG sent SIGTERM to the leaders; these two ignore it and are left over
        assert alive(stubborn_pid) and alive(daemon_pid)
        run_file = project / ".devstack" / "run.json"
        record = json.loads(run_file.read_text())
        started = psutil.Process(bystander.pid).create_time()
        record.update(pid=bystander.pid, create_time=started, groups={"bystander": [bystander.pid, started]})
        run_file.write_text(json.dumps(record))

        result = run_devstack(["up", "--no-timestamps", "quick"], project)
        assert result.returncode == 0, result
        assert ("devstack | stopping 2 process(es) left running by an earlier devstack "
                f"(pid {bystander.pid}) that did not shut down") in result.stdout
        assert "quick    | quick ran" in result.stdout
        assert not alive(stubborn_pid) and not alive(daemon_pid)
        assert lookalike.poll() is None and bystander.poll() is None
        assert not run_file.exists()
    finally:
        for proc in (lookalike, bystander):
            proc.kill()
            proc.wait()


def test_each_process_gets_its_stop_signal_once(project: Path) -> None:
    """The stop signal goes to the process group, and only processes that left the group get it one by
    one: a handler that is not re-entrant (most are not) must run once, not twice."""
    counter = python(
        "import os, signal, sys, time\n"
        "n = 0\n"
        "def on_term(*_):\n"
        "    global n\n"
        "    n += 1\n"
        "    print(f'TERM {n}', flush=True)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "print(f'ready pid={os.getpid()}', flush=True)\n"
        "while n == 0:\n"
        "    time.sleep(0.01)\n"
        "time.sleep(0.3)\n"  # a second signal, if one were sent, arrives within this
        "print(f'exiting after {n}', flush=True)\n")
    write_config(project, {"counter": {"cmd": counter}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"counter\s+\| ready pid=")
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
    assert "exiting after 1" in stack.output, stack.output
    assert "TERM 2" not in stack.output
