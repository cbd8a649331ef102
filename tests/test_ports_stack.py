"""Ports and the environment, end to end: the real ``devstack`` with real servers and real sockets."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from conftest import python, wait_for
from helpers.stack import Stack, clean_env, run_devstack, write_config

PRINT_ENV = python("import json, os, time; print('ENV ' + json.dumps(dict(os.environ))); time.sleep(60)")


def env_of(stack: Stack, name: str) -> dict[str, str]:
    m = stack.wait_for_line(rf"^.*{name}\s+\| ENV (.*)$")
    return json.loads(m.group(1))


@contextlib.contextmanager
def listener(port: int = 0) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A separate process listening on 127.0.0.1:``port``: the process and the port."""
    with subprocess.Popen(python(
        "import socket, sys, time\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
        "print(s.getsockname()[1], flush=True)\n"
        "time.sleep(60)\n"), stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            yield proc, int(proc.stdout.readline())
        finally:
            proc.kill()


def test_environment_names_values_and_precedence(project: Path) -> None:
    (project / ".env").write_text("FROM_FILE=file\nOVERRIDDEN=file\nPORT=1\nINHERITED=file\n")
    write_config(project, {
        "my-api": {"cmd": PRINT_ENV, "ports": ["admin"], "scheme": "postgresql",
                   "env": {"OVERRIDDEN": "service", "DB": "${my-api.url}/app", "LIT": "$$HOME",
                           "FROM_ENV": "${FROM_FILE}-x"}},
        "worker": {"cmd": PRINT_ENV, "port": False},
    })
    env = clean_env(INHERITED="inherited", ONLY_INHERITED="yes")
    env.pop("HOSTNAME", None)
    with Stack(project, "up", env=env) as stack:
        api, worker = env_of(stack, "my-api"), env_of(stack, "worker")
        port = int(api["PORT"])
        assert 20000 <= port <= 29999
        assert api["HOST"] == "127.0.0.1"
        assert api["MY_API_PORT"] == str(port) == worker["MY_API_PORT"]
        assert api["MY_API_URL"] == f"postgresql://127.0.0.1:{port}" == worker["DEVSTACK_MY_API_URL"]
        assert worker["MY_API_ADMIN_PORT"] == api["MY_API_ADMIN_PORT"] != api["PORT"]
        assert worker["MY_API_ADMIN_URL"] == f"http://127.0.0.1:{api['MY_API_ADMIN_PORT']}"
        assert worker["MY_API_HOST"] == "127.0.0.1"
        assert "PORT" not in worker and "WORKER_PORT" not in worker  # port = false
        assert "WORKER_HOST" not in worker and "WORKER_HOST" not in api
        assert api["DEVSTACK_SERVICE"] == "my-api" and worker["DEVSTACK_SERVICE"] == "worker"
        # precedence: service env > generated > env file > inherited
        assert api["OVERRIDDEN"] == "service"
        assert api["FROM_FILE"] == "file" and api["INHERITED"] == "file"
        assert api["ONLY_INHERITED"] == "yes"
        assert api["DB"] == f"postgresql://127.0.0.1:{port}/app"
        assert api["LIT"] == "$HOME"
        assert api["FROM_ENV"] == "file-x"
        assert "HOSTNAME" not in api
    shell = (project / ".devstack" / "env").read_text()
    assert f"MY_API_PORT={port}" in shell
    assert "WORKER_HOST" not in shell  # nothing to reach a service without a port at
    out = run_devstack(["env", "my-api"], project)
    assert out.returncode == 0 and f"PORT={port}" in out.stdout.splitlines()


def test_interpolation_in_cmd(project: Path) -> None:
    write_config(project, {
        "a": {"cmd": "echo PORT=${PORT} B=${b.url} ADMIN=${b.ports.admin} HOST=${HOST} LIT=$$X; sleep 60"},
        "b": {"cmd": ["sh", "-c", "echo argv ${PORT}; sleep 60"], "ports": ["admin"]},
    })
    with Stack(project, "up") as stack:
        m = stack.wait_for_line(
            r"a\s+\| PORT=(\d+) B=http://127\.0\.0\.1:(\d+) ADMIN=(\d+) HOST=127\.0\.0\.1 LIT=$")
        b = stack.wait_for_line(r"b\s+\| argv (\d+)")
    ports = tomllib.loads((project / ".devstack" / "ports.toml").read_text())
    assert int(m.group(1)) == ports["a"]["port"]
    assert int(m.group(2)) == int(b.group(1)) == ports["b"]["port"]
    assert int(m.group(3)) == ports["b"]["admin"]


def test_unknown_references_are_config_errors(project: Path) -> None:
    write_config(project, {
        "a": {"cmd": "run ${apii.port} ${b.ports.metrics} ${b.prot}"},
        "b": {"cmd": "run", "port": False, "env": {"X": "${PORT}"}},
    })
    out = run_devstack(["check"], project)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr
    assert '${apii.port} names no service "apii"' in out.stderr
    assert '${b.ports.metrics}: service "b" has no port' in out.stderr
    assert "${b.prot} is not a reference devstack knows" in out.stderr
    assert "services.b.env.X: ${PORT}: this service has no port" in out.stderr


def test_ports_are_stable_across_runs_and_config_changes(project: Path) -> None:
    services = {n: {"cmd": "echo $PORT"} for n in ("a", "b", "c")}
    write_config(project, services)
    assert run_devstack(["up"], project).returncode == 0
    first = tomllib.loads((project / ".devstack" / "ports.toml").read_text())
    assert run_devstack(["up"], project).returncode == 0
    assert tomllib.loads((project / ".devstack" / "ports.toml").read_text()) == first
    # remove b, add d, rename c -> c2: a never moves
    write_config(project, {"a": services["a"], "d": {"cmd": "echo $PORT"}, "c2": {"cmd": "echo $PORT"}})
    out = run_devstack(["up"], project)
    assert out.returncode == 0, out
    after = tomllib.loads((project / ".devstack" / "ports.toml").read_text())
    assert after["a"] == first["a"]
    assert len({p["port"] for p in after.values()}) == len(after)


def test_busy_pinned_port_fails_before_anything_starts_naming_the_holder(project: Path) -> None:
    with listener() as (holder, port):
        write_config(project, {"other": {"cmd": "echo started-other; sleep 60"},
                               "api": {"cmd": "sleep 60", "port": port}})
        out = run_devstack(["up"], project)
    assert out.returncode == 1, out
    assert f"port {port} of api is in use by pid {holder.pid}" in out.stderr
    assert "python" in out.stderr  # the holder's command
    assert "started-other" not in out.stdout and "Traceback" not in out.stderr


def test_a_persisted_port_taken_meanwhile_is_reassigned_with_a_warning(project: Path) -> None:
    write_config(project, {"api": {"cmd": "echo $PORT"}})
    assert run_devstack(["up"], project).returncode == 0
    old = tomllib.loads((project / ".devstack" / "ports.toml").read_text())["api"]["port"]
    with listener(old) as (holder, _):
        out = run_devstack(["up"], project)
    assert out.returncode == 0, out
    new = tomllib.loads((project / ".devstack" / "ports.toml").read_text())["api"]["port"]
    assert new != old
    assert str(holder.pid) in out.stdout and str(old) in out.stdout and str(new) in out.stdout


def test_three_stacks_at_once_never_share_a_port(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    roots = []
    for i in range(3):
        root = tmp_path / f"p{i}"
        root.mkdir()
        write_config(root, {f"s{j}": {"cmd": "echo $PORT; sleep 60"} for j in range(5)})
        roots.append(root)
    stacks = [Stack(root, "up", "--no-timestamps") for root in roots]
    try:
        for stack in stacks:
            stack.started(*(f"s{j}" for j in range(5)), timeout=20)
        ports = [tomllib.loads((r / ".devstack" / "ports.toml").read_text()) for r in roots]
        every = [p["port"] for stack_ports in ports for p in stack_ports.values()]
        assert len(every) == 15 and len(set(every)) == 15
    finally:
        for stack in stacks:
            stack.close()


def test_contract_findings_ignored_port_exposed_and_silent(project: Path) -> None:
    write_config(project, {
        "ignores": {"cmd": f"{sys.executable} -m http.server 0 --bind 127.0.0.1"},
        "exposed": {"cmd": f"{sys.executable} -m http.server ${{PORT}} --bind 0.0.0.0"},
        "silent": {"cmd": "sleep 60"},
        "good": {"cmd": f"{sys.executable} -m http.server ${{PORT}} --bind ${{HOST}}"},
    })
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"ignores listens on \d+, not on its PORT \d+: give the port as its argument: "
                            r"python3 -m http.server \$\{PORT\} --bind \$\{HOST\}")
        stack.wait_for_line(r"exposed listens on 0\.0\.0\.0 port \d+, reachable from the network")
        stack.wait_for_line(r"silent does not listen on any TCP port; it was given PORT \d+", timeout=20)
        stack.wait_for_line(r"good healthy in")
        out = run_devstack(["ports", "--json"], project)
        data = json.loads(out.stdout)
        assert data["running"] is True
        by_name = {s["name"]: s for s in data["services"]}
        assert [f["kind"] for f in by_name["exposed"]["findings"]] == ["exposed"]
        assert by_name["good"]["findings"] == []
        assert by_name["good"]["listening"] == {str(by_name["good"]["ports"]["port"]): ["127.0.0.1"]}
        table = run_devstack(["ports"], project).stdout
        assert "0.0.0.0" in table and "reachable from the network" in table
        assert "good" in table and "127.0.0.1" in table
        assert "not good" not in "".join(stack.output.splitlines())
    stopped = run_devstack(["ports"], project)
    assert "not running" in stopped.stdout and "no stack running" in stopped.stdout


def test_ports_without_a_running_stack_before_any_run(project: Path) -> None:
    write_config(project, {"api": {"cmd": "x"}})
    out = run_devstack(["ports"], project)
    assert out.returncode == 0
    assert "api get ports on the first devstack up" in out.stdout


def test_a_loopback_port_is_the_only_thing_a_service_is_told_to_use(project: Path) -> None:
    """The URL and HOST handed over are 127.0.0.1 literally: never localhost, never a wildcard."""
    write_config(project, {"api": {"cmd": f"{sys.executable} -m http.server ${{PORT}} --bind ${{HOST}}"}})
    with Stack(project, "up") as stack:
        stack.wait_for_line(r"api healthy in")
        port = tomllib.loads((project / ".devstack" / "ports.toml").read_text())["api"]["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        wait_for(lambda: "127.0.0.1" in run_devstack(["ports"], project).stdout, message="ports table")


PREFORK = python(
    "import os, socket, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', int(os.environ['PORT']))); s.listen()\n"
    "for _ in range(3):\n"
    "    if os.fork() == 0:  # a worker: it holds the socket too\n"
    "        time.sleep(60)\n"
    "        os._exit(0)\n"
    "print('ready 3', flush=True)\n"
    "time.sleep(60)\n")


def test_a_socket_shared_by_workers_is_listed_once(project: Path) -> None:
    write_config(project, {"prefork": {"cmd": PREFORK}})
    with Stack(project, "up", "--no-timestamps") as stack:
        stack.wait_for_line(r"prefork healthy in")
        stack.wait_for_line(r"prefork\s+\| ready 3")
        service = json.loads(run_devstack(["status", "--json"], project).stdout)["services"][0]
        assert service["listening"] == {str(service["ports"]["port"]): ["127.0.0.1"]}
        assert service["findings"] == []


def test_env_before_the_first_up_assigns_the_ports_up_then_uses(project: Path) -> None:
    write_config(project, {"api": {"cmd": PRINT_ENV}, "worker": {"cmd": PRINT_ENV, "port": False}})
    out = run_devstack(["env", "worker"], project)
    assert out.returncode == 0, out
    given = dict(line.split("=", 1) for line in out.stdout.splitlines())
    port = int(given["API_PORT"])
    assert given["API_URL"] == f"http://127.0.0.1:{port}"
    with Stack(project, "up") as stack:
        assert int(env_of(stack, "api")["PORT"]) == port


def test_ports_toml_says_what_the_readme_says_and_an_edit_is_used(project: Path) -> None:
    """The file and the README say one thing: a port may be changed there while the stack is down (it
    is used while free); one that must never move is pinned in devstack.toml."""
    write_config(project, {"api": {"cmd": PRINT_ENV}})
    assert run_devstack(["env", "api"], project).returncode == 0
    path = project / ".devstack" / "ports.toml"
    header = " ".join(line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#"))
    assert "You may change one here while the stack is down" in header, header
    assert "pin it in devstack.toml" in header
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert "you may change a port there while the stack is down" in readme
    assert "yours to edit" not in readme
    wanted = tomllib.loads(path.read_text())["api"]["port"] + 7
    path.write_text(path.read_text().replace(str(wanted - 7), str(wanted)))
    with Stack(project, "up") as stack:
        assert int(env_of(stack, "api")["PORT"]) == wanted
