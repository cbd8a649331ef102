"""Ports under contention: stacks started at the same instant never share a port, and a port taken by
another program between its allocation and the service's bind is named, with its holder, instead of a
bare "address already in use" and a restart loop whose health check talks to the intruder."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from conftest import python
from helpers.programs import sh, sleeper
from helpers.stack import Stack, clean_env, run_devstack, write_config

from .kit import reps

SERVICES = 4


def test_stacks_started_at_once_never_share_a_port(tmp_path: Path, monkeypatch) -> None:
    """Three stacks at the same instant, again and again, each in fresh project directories (nothing
    persisted to fall back on): every port handed out in a round is different."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    names = [f"s{j}" for j in range(SERVICES)]
    for round_ in range(reps(3, 20)):
        roots = []
        for i in range(3):
            root = tmp_path / f"r{round_}p{i}"
            root.mkdir()
            write_config(root, {n: {"cmd": "echo port=$PORT; exec sleep 60", "health": False} for n in names})
            roots.append(root)
        stacks = [Stack(root, "up", "--no-timestamps", "--no-watch") for root in roots]
        try:
            given = []
            for stack in stacks:
                stack.started(*names, timeout=20)
                got = stack.pids(SERVICES, r"port=(\d+)", timeout=20)
                given.extend(got)
            assert len(given) == 3 * SERVICES and len(set(given)) == len(given), (round_, sorted(given))
        finally:
            for stack in stacks:  # all at once: stopping them one by one would take three times as long
                stack.send(signal.SIGTERM)
            for stack in stacks:
                stack.close()


# waits for the file `go` (the test's cue), then binds its PORT; it fails if the port is taken
BIND_WHEN_TOLD = ("while [ ! -e go ]; do sleep 0.02; done; exec " + sh(python(
        "import os, socket, time\n"
        "s = socket.socket()\n"
        "s.bind(('127.0.0.1', int(os.environ['PORT'])))\n"
        "s.listen()\n"
        "print('bound', flush=True)\n"
        "time.sleep(60)\n")))

HOLD = ("import socket, sys, time\n"
        "s = socket.socket()\n"
        "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
        "s.listen()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")


def test_a_port_taken_before_the_service_binds_is_named_with_its_holder(project: Path) -> None:
    write_config(project, {"api": {"cmd": BIND_WHEN_TOLD, "health": {"tcp": True, "start_interval": "50ms"}},
                           "steady": {"cmd": sleeper(), "port": False}})  # keeps the stack up
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.started("api", "steady")
        port = json.loads(run_devstack(["ports", "--json"], project).stdout)["services"][0]["ports"]["port"]
        # another program takes the port devstack gave api, before api binds it
        holder = subprocess.Popen([*python(HOLD), str(port)], stdout=subprocess.PIPE, text=True,
                                  env=clean_env())
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            # the health check reaches the intruder: devstack says so
            stack.wait_for_line(rf"devstack \| api: port {port} is in use by pid {holder.pid} "
                                r"\(.*python.*\), not by api$")
            (project / "go").touch()
            line = stack.wait_for_line(rf"devstack \| api not restarted: its port {port} is in use by pid "
                                       rf"{holder.pid} \(.*\); stop that process, then: devstack start api$")
            assert "Address already in use" in stack.output
            [api] = [s for s in json.loads(run_devstack(["status", "--json"], project).stdout)["services"]
                     if s["name"] == "api"]
            assert api["state"] == "failed" and str(port) in (api["why"] or ""), api
            # no restart loop against a port that cannot be had
            assert len(re.findall(r"api started \(pid", stack.output)) == 1, line
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        # once the port is free again, `devstack start` brings it back on the same port
        out = run_devstack(["start", "api"], project)
        assert out.returncode == 0, out
        stack.wait_for_line(r"api +\| bound")
        stack.send(signal.SIGTERM)
        assert stack.wait() == 143
