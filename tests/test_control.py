"""Steering a running stack from another terminal, end to end: the real ``devstack up`` serving its
control socket, and the real ``devstack status / ports / start / stop / restart / down / wait`` talking
to it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import wait_for
from helpers.nobody import as_nobody
from helpers.stack import Stack, alive, guardian_of, run_devstack, write_config

HTTP = f"{sys.executable} -m http.server ${{PORT}} --bind 127.0.0.1"
SLEEP = {"cmd": "sleep 60", "port": False}


def devstack(project: Path, *args: str, timeout: float = 20.0) -> tuple[int, str, str]:
    out = run_devstack(args, project, timeout=timeout)
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, out.stdout, out.stderr


def status(project: Path) -> dict[str, dict[str, Any]]:
    code, out, err = devstack(project, "status", "--json")
    assert code == 0, err
    return {s["name"]: s for s in json.loads(out)["services"]}


def web_stack(project: Path) -> None:
    """db (an HTTP server), api waiting for db to be healthy, worker alone."""
    write_config(project, {
        "db": {"cmd": HTTP},
        "api": {"cmd": "sleep 60", "port": False, "depends_on": {"db": "healthy"}},
        "worker": SLEEP,
    })


def test_every_command_says_no_stack_is_running(project: Path) -> None:
    web_stack(project)
    for args in (["status"], ["status", "--json"], ["stop", "api"], ["start", "api"], ["restart", "api"],
                 ["down"], ["wait"], ["logs", "-f"]):
        code, out, err = devstack(project, *args)
        assert code == 1, (args, out, err)
        assert "no stack is running for this project" in err, (args, err)
        assert out == "", args
    # an unknown name is a usage error whether a stack runs or not
    code, _, err = devstack(project, "stop", "apii")
    assert code == 2 and 'did you mean "api"' in err


def test_status_and_ports_describe_the_running_stack(project: Path) -> None:
    web_stack(project)
    with Stack(project, "up", "--no-timestamps") as stack:
        pids = stack.started("db", "api", "worker")
        stack.wait_for_line(r"db healthy in")
        code, out, err = devstack(project, "status", "--json")
        assert code == 0, err
        snapshot = json.loads(out)
        assert snapshot["pid"] == stack.pid and snapshot["stopping"] is False
        assert Path(snapshot["project"]) == project
        by_name = {s["name"]: s for s in snapshot["services"]}
        assert list(by_name) == ["db", "api", "worker"]
        db = by_name["db"]
        assert {"name", "state", "pid", "ports", "uptime", "restarts", "exit_code", "why"} <= set(db)
        assert db["state"] == "healthy" and db["pid"] == pids["db"] and db["restarts"] == 0
        assert 0 <= db["uptime"] < 60 and db["exit_code"] is None
        assert by_name["worker"]["state"] == "running" and by_name["worker"]["ports"] == {}
        port = db["ports"]["port"]

        code, out, _ = devstack(project, "status")
        header, *rows = out.splitlines()
        assert header.split() == ["SERVICE", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "RELOADS", "EXIT",
                                  "NOTE"]
        assert rows[0].split()[:4] == ["db", "healthy", str(pids["db"]), str(port)]
        assert rows[2].split()[:3] == ["worker", "running", str(pids["worker"])]

        code, out, _ = devstack(project, "ports", "--json")
        ports = json.loads(out)
        assert code == 0 and ports["running"] is True
        assert [s["name"] for s in ports["services"]] == ["db", "api", "worker"]
        assert ports["services"][0]["listening"] == {str(port): ["127.0.0.1"]}
        code, out, _ = devstack(project, "ports")
        assert f"http://127.0.0.1:{port}" in out and "not running" not in out


def test_status_ports_and_down_need_only_the_running_stack_not_a_valid_config(project: Path) -> None:
    write_config(project, {"worker": SLEEP, "slow": {"cmd": "sleep 60", "port": False, "stop_timeout": "3s"}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("worker", "slow")
        (project / "devstack.toml").write_text("[services.worker\ncmd = ")  # mid-edit: invalid TOML
        code, _, err = devstack(project, "check")
        assert code == 2 and "invalid TOML" in err  # the file really is broken...
        code, out, err = devstack(project, "status")
        assert code == 0 and "worker" in out and "slow" in out, err  # ...and the stack still answers
        code, out, err = devstack(project, "ports", "--json")
        assert code == 0 and json.loads(out)["running"] is True, err
        code, out, err = devstack(project, "down", "--json")
        assert code == 0 and json.loads(out)["stopped"] is True, err
        assert stack.wait() == 0
    code, _, err = devstack(project, "status")  # with no stack running, the config is read again
    assert code == 1 and "no stack is running" in err
    code, _, err = devstack(project, "ports")
    assert code == 2 and "invalid TOML" in err


def test_restart_replaces_one_service_and_leaves_the_others_alone(project: Path) -> None:
    web_stack(project)
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("db", "api", "worker")
        stack.wait_for_line(r"db healthy in")
        before = status(project)
        code, out, err = devstack(project, "restart", "db", "--json")
        assert code == 0, err
        assert json.loads(out) == {"services": {"db": "healthy"}}  # answered once ready again
        stack.wait_for_line(r"db restarting: asked by devstack restart")
        after = status(project)
        assert after["db"]["pid"] != before["db"]["pid"] and not alive(before["db"]["pid"])
        assert after["db"]["restarts"] == 1 and after["db"]["state"] == "healthy"
        for other in ("api", "worker"):
            assert after[other]["pid"] == before[other]["pid"], other
            assert after[other]["restarts"] == 0
        assert after["db"]["ports"] == before["db"]["ports"]  # a restart never moves a port
        code, out, _ = devstack(project, "restart", "worker")
        assert code == 0 and out.strip() == "worker: running"


def test_stop_keeps_a_service_down_and_start_brings_its_dependencies(project: Path) -> None:
    web_stack(project)
    with Stack(project, "up", "--no-timestamps") as stack:
        pids = stack.started("db", "api", "worker")
        stack.wait_for_line(r"db healthy in")
        code, out, err = devstack(project, "stop", "api", "db", "--json")
        assert code == 0, err
        assert sorted(json.loads(out)["stopped"]) == ["api", "db"]
        now = status(project)
        assert now["db"]["state"] == now["api"]["state"] == "stopped"
        assert now["db"]["pid"] is None and not alive(pids["db"]) and not alive(pids["api"])
        assert now["worker"]["pid"] == pids["worker"]
        code, out, _ = devstack(project, "stop", "db")
        assert code == 0 and out.strip() == "not running"

        code, out, err = devstack(project, "start", "api")  # api depends on db: both start
        assert code == 0, err
        assert out.strip() == "started: db, api"
        wait_for(lambda: status(project)["api"]["state"] == "running", message="api running again")
        now = status(project)
        assert now["db"]["state"] == "healthy" and alive(now["db"]["pid"]) and alive(now["api"]["pid"])
        code, out, _ = devstack(project, "start", "api", "--json")
        assert code == 0 and json.loads(out) == {"started": []}


def test_down_stops_the_stack_as_ctrl_c_does(project: Path) -> None:
    web_stack(project)
    with Stack(project, "up", "--no-timestamps") as stack:
        pids = stack.started("db", "api", "worker")
        stack.wait_for_line(r"db healthy in")
        guardian = guardian_of(stack.pid)
        code, out, err = devstack(project, "down", "--json")
        assert code == 0, err
        assert json.loads(out) == {"stopped": True, "pid": stack.pid}
        # `down` returns once the supervisor has gone: nothing of the run is left
        assert stack.proc.poll() is not None or not alive(stack.pid)
        assert stack.wait() == 0
        assert not any(alive(p) for p in pids.values())
        wait_for(lambda: not alive(guardian.pid), timeout=5, message="the guardian to exit")
    output = stack.output
    assert "stopping (devstack down)" in output
    # dependents first: api before db
    assert output.index("api stopped") < output.index("db stopped")
    assert not (project / ".devstack" / "control.sock").exists()
    assert not (project / ".devstack" / "run.json").exists()


def test_down_while_a_service_still_waits_for_its_dependency(project: Path) -> None:
    """api waits for a db that is never healthy: down must not wait for that forever."""
    write_config(project, {
        "db": {"cmd": "sleep 60", "health": {"cmd": "false", "interval": "100ms", "start_period": "60s"}},
        "api": {"cmd": "sleep 60", "port": False, "depends_on": {"db": "healthy"}},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("db")
        stack.wait_for_line(r"api waiting for db \(healthy\)")
        code, _, err = devstack(project, "down")
        assert code == 0, err
        assert stack.wait(5) == 0
    assert "api started" not in stack.output


def test_wait_success_failure_and_timeout(project: Path) -> None:
    write_config(project, {
        "ok": SLEEP,
        "slow": {"cmd": "sleep 60", "port": False,
                 "health": {"cmd": "test -f ready", "interval": "100ms", "start_period": "60s"}},
        "bad": {"cmd": "echo cannot start; exit 4", "port": False, "restart": "no"},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("ok", "slow", "bad")
        code, out, err = devstack(project, "wait", "ok", "--json")
        assert code == 0, err
        assert json.loads(out)["ok"] is True and json.loads(out)["services"] == {"ok": "running"}

        code, out, err = devstack(project, "wait", "slow", "--timeout", "300ms")
        assert code == 1 and "timed out after 0.3 s waiting for slow" in err
        code, out, _ = devstack(project, "wait", "slow", "--timeout", "300ms", "--json")
        result = json.loads(out)
        assert code == 1 and result["timeout"] is True and result["waiting"] == ["slow"]

        code, out, err = devstack(project, "wait", "bad")
        assert code == 1 and "bad" in err and "exited with code 4" in err

        (project / "ready").touch()
        code, out, err = devstack(project, "wait", "ok", "slow", "--timeout", "20s")
        assert code == 0, err
        assert out.strip() == "ready: ok (running), slow (healthy)"
        code, out, err = devstack(project, "wait")  # all of them: bad has failed
        assert code == 1 and "bad" in err


def test_wait_fails_for_a_service_that_was_given_up(project: Path) -> None:
    """A service with nothing to check is ready once started; crashing for good must undo that."""
    write_config(project, {"crash": {"cmd": "exit 3", "port": False, "max_restarts": 1},
                           "ok": SLEEP})
    (project / "devstack.toml").write_text((project / "devstack.toml").read_text()
                                           + '\n[devstack]\nrestart_backoff = "50ms"\n')
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"crash given up after 1 restarts")
        code, out, err = devstack(project, "wait", "--timeout", "10s", "--json")
        assert code == 1, out
        result = json.loads(out)
        assert result["failed"] == ["crash"] and result["services"]["crash"] == "failed"
        assert "given up" in result["why"]["crash"]


def test_a_second_up_is_refused_naming_the_running_one(project: Path) -> None:
    write_config(project, {"worker": SLEEP})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("worker")
        for args in (["up"], ["up", "-d"]):
            code, out, err = devstack(project, *args)
            assert code == 1, (args, out, err)
            assert f"devstack is already running for this project (pid {stack.pid})" in err
        assert status(project)["worker"]["state"] == "running"  # the first one is untouched


def test_a_stale_socket_of_a_killed_run_is_replaced(project: Path) -> None:
    write_config(project, {"worker": SLEEP})
    sock = project / ".devstack" / "control.sock"
    with Stack(project, "up", "--no-timestamps") as stack:
        pid = stack.started("worker")["worker"]
        wait_for(sock.exists, message="the control socket")  # opened just after the services start
        assert stat.S_ISSOCK(sock.stat().st_mode)
        stack.send(signal.SIGKILL)
        stack.wait()
    assert stat.S_ISSOCK(sock.stat().st_mode)  # left behind
    wait_for(lambda: not alive(pid), message="the guardian to stop the killed run's worker")
    for args in (["status"], ["wait"], ["logs", "-f"], ["down"]):
        code, _, err = devstack(project, *args)
        assert code == 1 and "no stack is running" in err, (args, err)
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("worker")
        assert status(project)["worker"]["state"] == "running"  # answered on the new socket
        assert devstack(project, "down")[0] == 0
        assert stack.wait() == 0
    assert not sock.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user (nobody)")
def test_the_socket_is_private_to_its_user(project: Path, request: pytest.FixtureRequest) -> None:
    write_config(project, {"worker": SLEEP})
    state = project / ".devstack"
    sock = state / "control.sock"
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("worker")
        wait_for(sock.exists, message="the control socket")  # opened just after the services start
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert sock.stat().st_uid == os.getuid()
        # the 0700 directory refuses another user
        assert as_nobody(sock) == "refused 13"
        # so does the socket itself, reached through a path another user can walk (a hard link)
        shared = Path(tempfile.mkdtemp(prefix="devstack-test-"))  # /tmp: any user may walk it
        request.addfinalizer(lambda: shutil.rmtree(shared))
        shared.chmod(0o755)
        link = shared / "control.sock"
        try:
            os.link(sock, link)
        except OSError as exc:
            pytest.skip(f"cannot hard-link the socket ({exc})")
        assert as_nobody(link) == "refused 13"
        # and with the file opened up by hand, the server still turns a client of another uid away
        sock.chmod(0o666)
        answer = as_nobody(link)
        assert answer.startswith("HTTP/1.") and " 403 " in answer, answer
        assert "this stack belongs to another user" in answer
        sock.chmod(0o600)
        assert status(project)["worker"]["state"] == "running"


def test_a_project_path_too_long_for_a_socket_uses_the_runtime_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / ("p" * 60) / ("q" * 60)
    project.mkdir(parents=True)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.chdir(project)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / ".xdg-state"))
    write_config(project, {"worker": SLEEP})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.started("worker")
        socks = wait_for(lambda: list((runtime / "devstack").glob("*.sock")), message="the socket")
        assert len(socks) == 1 and stat.S_IMODE(socks[0].stat().st_mode) == 0o600
        assert stat.S_IMODE((runtime / "devstack").stat().st_mode) == 0o700
        assert not (project / ".devstack" / "control.sock").exists()
        assert status(project)["worker"]["state"] == "running"
        assert devstack(project, "down")[0] == 0
        assert stack.wait() == 0
    assert not socks[0].exists()


def test_up_detached_then_down_leaves_nothing(project: Path) -> None:
    web_stack(project)
    try:
        code, out, err = devstack(project, "up", "-d", timeout=60)
        assert code == 0, err
        header = out.splitlines()[0].split()
        assert header == ["SERVICE", "NAME", "PORT", "URL", "PID", "STATE", "LISTENING"]
        assert "stack running in the background" in out
        snapshot = status(project)
        assert {s["state"] for s in snapshot.values()} <= {"healthy", "running"}
        record = json.loads((project / ".devstack" / "run.json").read_text())
        supervisor = psutil.Process(record["pid"])
        guardian = guardian_of(supervisor.pid)
        service_pids = [s["pid"] for s in snapshot.values()]
        assert "db started" in (project / ".devstack" / "logs" / "devstack.log").read_text()
    finally:
        code, out, err = devstack(project, "down")
    assert code == 0 and out.strip() == "stack stopped", err
    assert not alive(supervisor.pid)  # down returns once it has gone
    wait_for(lambda: not alive(guardian.pid), timeout=5, message="the guardian to exit")
    assert not any(alive(p) for p in service_pids)
    assert not (project / ".devstack" / "control.sock").exists()
    assert not (project / ".devstack" / "run.json").exists()
    code, _, err = devstack(project, "status")
    assert code == 1 and "no stack is running" in err


def test_up_detached_reports_a_failed_service(project: Path) -> None:
    write_config(project, {
        "ok": SLEEP,
        "bad": {"cmd": "echo missing DATABASE_URL; exit 2", "restart": "no"},  # never listens on its port
        "loop": {"cmd": "echo no config; exit 1", "port": False},  # crash-loops: fails at once, not at 120 s
    })
    try:
        code, out, err = devstack(project, "up", "-d", timeout=60)
    finally:
        assert devstack(project, "down")[0] == 0
    assert code == 1, (out, err)
    assert "devstack: failed: bad, loop" in err
    assert "bad exited with code 2" in err  # why
    assert "loop exited with code 1 and is restarting (restart 1)" in err and "no config" in err
    assert "missing DATABASE_URL" in err  # its last lines
    assert "devstack down stops it" in err
