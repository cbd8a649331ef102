"""State that belongs to one project path and one config file: a copied project is a new project, and
two configs of one folder have ports and runs of their own. End to end, with the real command."""

from __future__ import annotations

import json
import signal
import subprocess
import tomllib
from pathlib import Path

from helpers.programs import sleeper
from helpers.stack import Stack, alive, run_devstack, write_config

SERVICE = {"cmd": ["python3", "-m", "http.server", "--bind", "127.0.0.1", "${PORT}"],
           "health": {"tcp": True}}


def test_a_copied_project_is_a_new_project(project: Path) -> None:
    """``cp -r`` of a project while its stack runs copies ``.devstack/run.json``: in the copy, status
    says no stack runs, ``down`` does not stop the original, and ``up`` runs a stack of its own (after
    saying why it ignores the copied record), on ports of its own."""
    original = project / "myproj"
    original.mkdir()
    write_config(original, {"web": SERVICE})
    with Stack(original, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"web healthy in")
        pid = stack.started("web")["web"]
        copy = project / "myproj2"
        subprocess.run(["cp", "-r", str(original), str(copy)], check=True, capture_output=True)
        assert (copy / ".devstack" / "run.json").exists()

        status = run_devstack(["status"], copy)
        assert status.returncode == 1 and "no stack is running" in status.stderr, status
        down = run_devstack(["down"], copy)
        assert down.returncode == 1, down
        assert stack.proc.poll() is None and alive(pid)  # the original runs on

        with Stack(copy, "up", "--no-timestamps") as second:
            second.wait_for_line(r"web healthy in")
            assert "ignoring " in second.output and "(a copied project?)" in second.output, second.output
            mine = json.loads(run_devstack(["status", "--json"], copy).stdout)
            theirs = json.loads(run_devstack(["status", "--json"], original).stdout)
            assert mine["pid"] == second.pid and theirs["pid"] == stack.pid
            assert mine["services"][0]["ports"] != theirs["services"][0]["ports"]
            second.send(signal.SIGINT)
            assert second.wait() == 130
        assert stack.proc.poll() is None and alive(pid)
        stack.send(signal.SIGINT)
        assert stack.wait() == 130


def test_two_configs_of_one_folder_run_side_by_side(project: Path) -> None:
    """``-f other.toml`` beside ``devstack.toml``: its own ports (the first config's never move), its
    own run (both at once), its own logs; each ``status`` and ``down`` reaches its own stack."""
    write_config(project, {"web": SERVICE, "worker": {"cmd": sleeper(), "port": False}})
    write_config(project, {"web": SERVICE}, name="other.toml")
    with Stack(project, "up", "--no-timestamps") as first:
        first.wait_for_line(r"web healthy in")
        ports = tomllib.loads((project / ".devstack" / "ports.toml").read_text())
        with Stack(project, "-f", "other.toml", "up", "--no-timestamps") as second:
            second.wait_for_line(r"web healthy in")
            assert "already running" not in second.output + second.stderr
            other_state = project / ".devstack" / "configs" / "other.toml"
            other_ports = tomllib.loads((other_state / "ports.toml").read_text())
            assert other_ports["web"]["port"] != ports["web"]["port"]
            assert (other_state / "logs" / "web.log").exists()
            mine = json.loads(run_devstack(["-f", "other.toml", "status", "--json"], project).stdout)
            assert mine["pid"] == second.pid and [s["name"] for s in mine["services"]] == ["web"]
            down = run_devstack(["-f", "other.toml", "down"], project)
            assert down.returncode == 0, down
            assert second.wait() == 0 or second.wait() in (130, 143)
        assert first.proc.poll() is None
        theirs = json.loads(run_devstack(["status", "--json"], project).stdout)
        assert theirs["pid"] == first.pid
        first.send(signal.SIGINT)
        assert first.wait() == 130
    assert tomllib.loads((project / ".devstack" / "ports.toml").read_text()) == ports
