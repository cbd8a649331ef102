"""No process escapes: real servers that daemonize, in both tracking modes.

Four services that hand their work to a daemon and exit 0: redis with ``--daemonize yes``, nginx in
its default daemon mode, PostgreSQL through ``pg_ctl start``, and a test program that double-forks
and erases its environment (no DEVSTACK_* markers left to find it by). Each is followed as its service
(healthy through the daemon, its port contract met by the daemon's socket), and after each of Ctrl-C,
SIGTERM, SIGKILL of devstack, ``devstack restart`` and a file change, no process of the old instance
survives, found by pid and start time: the processes holding each service's port and their
descendants, looked up independently of devstack. Each combination runs with cgroups (where one can be
made; the four services in one stack, started at once) and with the fallback tracking
(``DEVSTACK_TRACKING=tree``; one stack per server: without cgroups a daemon re-parented before devstack
saw it is told apart only by when it appeared, and two services starting at the same moment leave it
the run's, stopped with the stack but not with a restart of its service; see the README).

Servers that are not installed are left out, saying so (``bash scripts/install-test-deps``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import wait_for
from helpers.programs import ENV_CLEARING_DAEMON
from helpers.stack import Stack, clean_env, run_devstack, write_config

from devstack import cgroup

NGINX_CONF = """\
worker_processes 2;
pid {state}/nginx.pid;
error_log {state}/nginx.error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {state}/nginx-body;
    proxy_temp_path {state}/nginx-proxy;
    fastcgi_temp_path {state}/nginx-fastcgi;
    uwsgi_temp_path {state}/nginx-uwsgi;
    scgi_temp_path {state}/nginx-scgi;
    server {{ listen 127.0.0.1:PORT; location / {{ return 200 "ok"; }} }}
}}
"""


def _pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _as_user() -> str | None:
    """How to run postgres here: as it is, or (as root, where postgres refuses to run) in a user
    namespace; None if neither can be done."""
    if os.geteuid() != 0:
        return ""
    ok = subprocess.run(["unshare", "--user", "--map-user=nobody", "true"], capture_output=True)
    return "unshare --user --map-user=65534 --map-group=65534 " if ok.returncode == 0 else None


@pytest.fixture(scope="module")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A PostgreSQL data directory made once (initdb takes seconds), copied for each stack."""
    bindir, as_user = _pg_bindir(), _as_user()
    if bindir is None or as_user is None:
        return None
    data = tmp_path_factory.mktemp("pg") / "data"
    done = subprocess.run(f"{as_user}{bindir}/initdb -D {data} -U postgres --auth=trust --no-sync",
                          shell=True, capture_output=True, text=True)
    return data if done.returncode == 0 else None


def servers(project: Path, pg_template: Path | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The daemonizing services that can run here, and what is left out and why."""
    state = project / "state"
    state.mkdir()
    for name in ("redis", "nginx", "pg", "envclear"):
        (project / name).mkdir()
        (project / name / "file").write_text("0")
    (project / "envclear" / "daemon.py").write_text(ENV_CLEARING_DAEMON)
    services: dict[str, dict[str, Any]] = {
        "envclear": {"cmd": [sys.executable, "envclear/daemon.py"], "health": {"tcp": True}},
    }
    missing = []
    if shutil.which("redis-server"):
        services["redis"] = {"cmd": "redis-server --port ${PORT} --bind ${HOST} --daemonize yes "
                                    "--save '' --appendonly no --dir state", "health": {"tcp": True}}
    else:
        missing.append("redis-server not installed")
    if shutil.which("nginx"):
        (state / "nginx.conf.in").write_text(NGINX_CONF.format(state=state))
        services["nginx"] = {"cmd": "sed s/PORT/${PORT}/ state/nginx.conf.in > state/nginx.conf && "
                                    f"exec nginx -p {state}/ -c nginx.conf", "health": {"http": "/"}}
    else:
        missing.append("nginx not installed")
    as_user, bindir = _as_user(), _pg_bindir()
    if pg_template is not None and as_user is not None and bindir is not None:
        data = state / "pgdata"
        shutil.copytree(pg_template, data, symlinks=True)
        services["pg"] = {
            "cmd": f"exec {as_user}{bindir}/pg_ctl -D {data} -l {state}/pg.log -w "
                   f"-o '-p ${{PORT}} -k {state} -c listen_addresses=${{HOST}}' start",
            "health": {"tcp": True}, "stop_signal": "SIGINT"}
    else:
        missing.append("PostgreSQL (pg_ctl, initdb, and unshare --user as root) not available")
    for name, svc in services.items():
        svc["watch"] = [name]
    return services, missing


def tree_of(port: int) -> list[psutil.Process]:
    """Whoever listens on ``port``, and their descendants (found from the socket, not from devstack)."""
    holders = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            holders.add(conn.pid)
    found: dict[int, psutil.Process] = {}
    for pid in holders:
        try:
            top = psutil.Process(pid)
            for proc in [top, *top.children(recursive=True)]:
                found[proc.pid] = proc
        except psutil.Error:
            continue
    return list(found.values())


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running: the same pid with the same start time (psutil checks), not a zombie."""
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            continue
    return out


def cgroups_usable() -> str | None:
    try:
        path = cgroup.make_run_cgroup("0" * 16)
    except cgroup.Unavailable as exc:
        return str(exc)
    cgroup.remove(path)
    return None


ACTIONS = ("SIGINT", "SIGTERM", "SIGKILL", "restart", "change")


SERVERS = ("envclear", "redis", "nginx", "pg")


@pytest.mark.parametrize("action", ACTIONS)
def test_no_daemon_survives_with_cgroups(project: Path, pg_template: Path | None, action: str) -> None:
    if why := cgroups_usable():
        pytest.skip(f"no cgroup can be made here: {why}")
    services, missing = servers(project, pg_template)
    run_matrix(project, services, "cgroup", action)
    if missing:
        print("left out:", "; ".join(missing))


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("action", ACTIONS)
def test_no_daemon_survives_without_cgroups(project: Path, pg_template: Path | None, action: str,
                                            server: str) -> None:
    services, missing = servers(project, pg_template)
    if server not in services:
        pytest.skip(next(m for m in missing if server[:2] in m.lower()))
    run_matrix(project, {server: services[server]}, "tree", action)


def run_matrix(project: Path, services: dict[str, dict[str, Any]], mode: str, action: str) -> None:
    write_config(project, services)
    env = clean_env(DEVSTACK_TRACKING=mode)
    args = ["up", "--no-timestamps", *(["--no-watch"] if action != "change" else [])]
    with Stack(project, *args, env=env) as stack:
        for name in services:
            stack.wait_for_line(rf"devstack \| {name} healthy in", timeout=30)
            stack.wait_for_line(rf"devstack \| {name}: its first process exited 0 and left", timeout=30)
        out = stack.output
        assert "not by " not in out and "does not listen" not in out, out  # the daemons' ports are theirs
        status = json.loads(run_devstack(["status", "--json"], project, env=env).stdout)
        assert status["tracking"]["kind"] == mode, status["tracking"]
        ports = {s["name"]: s["ports"]["port"] for s in status["services"]}
        for s in status["services"]:
            assert s["state"] == "healthy" and s["listening"] == {str(ports[s["name"]]): ["127.0.0.1"]}, s
        before = {name: tree_of(port) for name, port in ports.items()}
        for name, procs in before.items():
            assert procs, f"nothing listens on the port of {name}:\n{out}"
        everything = [p for procs in before.values() for p in procs]
        if action in ("restart", "change"):
            if action == "restart":
                done = run_devstack(["restart", *services], project, env=env, timeout=60)
                assert done.returncode == 0, done
            else:
                for name in services:
                    (project / name / "file").write_text("1")
                for name in services:
                    stack.wait_for_line(rf"devstack \| {name} restarted, healthy in", timeout=30)
            left = alive(everything)
            assert not left, f"{action} in {mode} mode left {left}\n{stack.output}"
            for name, port in ports.items():  # the new instances run, on the same ports
                wait_for(lambda port=port: alive(tree_of(port)), timeout=10,
                         message=f"{name} listening again after {action}:\n{stack.output}")
            everything = [p for port in ports.values() for p in tree_of(port)]
            stack.send(signal.SIGINT)
            assert stack.wait(timeout=30) == 130
        else:
            sig = signal.Signals[action]
            stack.send(sig)
            code = stack.wait(timeout=30)
            assert code == {"SIGINT": 130, "SIGTERM": 143, "SIGKILL": -9}[action], stack.output
    # devstack confirms before it exits; after SIGKILL the guardian needs a moment
    wait_for(lambda: not alive(everything), timeout=10 if action == "SIGKILL" else 1.0,
             message=f"no survivors after {action} in {mode} mode: {alive(everything)}")
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr
