"""The stacks the repository ships, end to end: the root devstack.toml (examples/demo) and the stacks in
examples/ with real parts (PostgreSQL, Redis, Vite, uvicorn). Each runs the real ``devstack up`` on a
copy in a temporary directory, never on the repository's own files, and a copy of the files as committed
(``helpers.committed``): an edit a README suggests ("edit api.py") does not make them fail.

Parts that are not installed (``bash scripts/install-test-deps`` installs them) skip their test, saying
which part is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import wait_for
from helpers.committed import REPO, committed
from helpers.load import Client
from helpers.stack import Stack, alive, clean_env, run_devstack

EXAMPLES = REPO / "examples"
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5) as client:  # a proxy must not take loopback calls
        yield client


def copy_example(name: str, dest: Path) -> Path:
    """examples/NAME as committed, in ``dest`` (its installed node_modules, if any, linked)."""
    src = EXAMPLES / name
    committed(f"examples/{name}", dest)
    if (src / "node_modules").is_dir():
        (dest / "node_modules").symlink_to(src / "node_modules")
    return dest


def venv_env(**extra: str) -> dict[str, str]:
    """The test's environment with this interpreter's bin directory first on PATH, as for a user whose
    virtualenv is active (uvicorn, and a python3 that has psycopg)."""
    return clean_env(PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra)


def need_module(name: str) -> None:
    probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"python package {name} not installed (bash scripts/install-test-deps)")


def assigned(root: Path) -> dict[str, dict[str, int]]:
    return tomllib.loads((root / ".devstack" / "ports.toml").read_text())


def stop_with_ctrl_c(stack: Stack, pids: dict[str, int]) -> None:
    """SIGINT, as Ctrl-C in its terminal: exit 130, every service gone."""
    stack.send(signal.SIGINT)
    assert stack.wait(timeout=20) == 130, stack.output + stack.stderr
    assert "all services stopped" in stack.output
    for name, pid in pids.items():
        assert not alive(pid), f"{name} (pid {pid}) still running"
    assert "Traceback" not in stack.output + stack.stderr, stack.output + stack.stderr


def ports_json(root: Path) -> dict[str, Any]:
    out = run_devstack(["ports", "--json"], root)
    assert out.returncode == 0, out
    return {s["name"]: s for s in json.loads(out.stdout)["services"]}


# -- the repository's own devstack.toml ------------------------------------------------------------


def test_root_stack_page_reaches_api_reloads_on_edit_and_stops_clean(project: Path,
                                                                      http: httpx.Client) -> None:
    committed("devstack.toml", project / "devstack.toml")
    copy_example("demo", project / "examples" / "demo")
    with Stack(project, "up", "--no-timestamps", env=clean_env(WORKER_INTERVAL="0.2")) as stack:
        pids = stack.started("api", "web", "worker", timeout=15)
        stack.wait_for_line(r"devstack \| api healthy in", timeout=15)
        stack.wait_for_line(r"devstack \| web healthy in", timeout=15)
        ports = assigned(project)
        api = f"http://127.0.0.1:{ports['api']['port']}"
        web = f"http://127.0.0.1:{ports['web']['port']}"
        assert {s["state"] for s in ports_json(project).values()} >= {"healthy"}

        # the page carries the injected API URL, and that URL answers
        page = http.get(f"{web}/")
        assert page.status_code == 200 and f'<code id="api">{api}</code>' in page.text
        assert http.get(f"{api}/api/items").json()["version"] == "1"
        # the web server reaches the API through API_URL itself
        check = http.get(f"{web}/check").json()
        assert check["version"] == "1" and len(check["items"]) == 3
        stack.wait_for_line(rf"worker\s+\| processed 3 items from {re.escape(api)}")

        # an edit of api.py restarts api only, on the same port, and refuses no request meanwhile:
        # devstack holds its socket (socket = true) and starts the new one beside it (overlap)
        client = Client(ports["api"]["port"])
        try:
            client.wait_for_answer(r'"version": "1"')
            source = project / "examples" / "demo" / "api.py"
            source.write_text(source.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
            stack.wait_for_line(r"devstack \| api restarting: api\.py changed", timeout=10)
            client.wait_for_answer(r'"version": "2"')
            wait_for(lambda: _version(http, f"{web}/check") == "2", timeout=15,
                     message=f"version 2 through the web's /check:\n{stack.output}")
            stack.wait_for_line(r"devstack \| api restarted, healthy in", timeout=15)
        finally:
            client.stop()
        assert client.failures == [], client.failures
        assert len(client.latencies) > 20, "the client hardly sent anything"
        # what a newcomer reads is the services' own lines, not devstack's health probes
        assert "/healthz" not in stack.output
        assert assigned(project)["api"]["port"] == ports["api"]["port"]
        assert len(re.findall(r"devstack \| web started", stack.output)) == 1
        assert alive(pids["web"]) and alive(pids["worker"])
        new_api = int(re.findall(r"devstack \| api started \(pid (\d+)\)", stack.output)[-1])
        stop_with_ctrl_c(stack, {**pids, "api (restarted)": new_api})


def _version(http: httpx.Client, url: str) -> str | None:
    try:
        return str(http.get(url).json().get("version"))
    except (httpx.HTTPError, ValueError):
        return None


# -- examples/postgres -----------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def test_postgres_initdb_migration_then_api(project: Path, http: httpx.Client) -> None:
    if postgres_bindir() is None:
        pytest.skip("postgres not installed (bash scripts/install-test-deps: apt-get install postgresql)")
    need_module("psycopg")
    if os.geteuid() == 0 and subprocess.run(["unshare", "--user", "--map-user=nobody", "true"],
                                            capture_output=True).returncode != 0:
        pytest.skip("running as root, and user namespaces (unshare --user) are not available: "
                    "postgres refuses to run as root")
    root = copy_example("postgres", project / "pg")
    with Stack(root, "up", "--no-timestamps", env=venv_env()) as stack:
        pids = stack.started("db", timeout=10)
        stack.wait_for_line(r"devstack \| api healthy in", timeout=45)
        out = stack.output
        # the migration ran, succeeded, and only then did the api start
        assert out.index("migrate exited with code 0") < out.index("devstack | api started")
        assert "migrate  | migrated app: table notes" in out
        port = assigned(root)["db"]["port"]
        assert (root / ".devstack" / "pgdata" / "PG_VERSION").is_file()  # initdb into .devstack/
        assert (root / ".devstack" / f".s.PGSQL.{port}").is_socket()  # its socket in the project
        assert f"(database postgresql://127.0.0.1:{port}/app?user=postgres)" in out  # injected port
        listing = ports_json(root)
        assert listing["db"]["listening"] == {str(port): ["127.0.0.1"]}
        assert listing["db"]["findings"] == []

        api = f"http://127.0.0.1:{assigned(root)['api']['port']}"
        created = http.post(f"{api}/notes", json={"text": "buy milk"})
        assert created.status_code == 201, created.text
        assert {"id": created.json()["id"], "text": "buy milk"} in http.get(f"{api}/notes").json()["notes"]
        pids["api"] = int(re.findall(r"devstack \| api started \(pid (\d+)\)", out)[-1])
        stop_with_ctrl_c(stack, pids)
    assert "database system is shut down" in stack.output


# -- examples/redis --------------------------------------------------------------------------------


def test_redis_api_queues_and_worker_consumes(project: Path, http: httpx.Client) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed "
                    "(bash scripts/install-test-deps: apt-get install redis-server)")
    root = copy_example("redis", project / "redis")
    with Stack(root, "up", "--no-timestamps") as stack:
        pids = stack.started("redis", "api", "worker", timeout=15)
        stack.wait_for_line(r"devstack \| api healthy in", timeout=15)
        port = assigned(root)["redis"]["port"]
        stack.wait_for_line(rf"worker\s+\| worker waiting for jobs at redis://127\.0\.0\.1:{port}$")
        api = f"http://127.0.0.1:{assigned(root)['api']['port']}"
        job = http.post(f"{api}/jobs", json={"text": "hello"}).json()["id"]
        result = wait_for(lambda: http.get(f"{api}/jobs/{job}").json().get("result"), timeout=10,
                          message=f"job {job} done:\n{stack.output}")
        assert result == "HELLO"
        stack.wait_for_line(rf"worker\s+\| processed job {job}: 'hello' -> 'HELLO'")
        stop_with_ctrl_c(stack, pids)


# -- examples/vite ---------------------------------------------------------------------------------


def need_vite() -> None:
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node and npm not installed (apt-get install nodejs npm)")
    if not (EXAMPLES / "vite" / "node_modules" / ".bin" / "vite").exists():
        pytest.skip("vite not installed in examples/vite/node_modules (bash scripts/install-test-deps)")


def test_vite_listens_on_its_port_when_told(project: Path, http: httpx.Client) -> None:
    need_vite()
    root = copy_example("vite", project / "vite")
    with Stack(root, "up", "--no-timestamps") as stack:
        pids = stack.started("web", timeout=10)
        stack.wait_for_line(r"devstack \| web healthy in", timeout=30)
        port = assigned(root)["web"]["port"]
        web = ports_json(root)["web"]
        assert web["listening"] == {str(port): ["127.0.0.1"]} and web["findings"] == []
        assert "devstack + vite" in http.get(f"http://127.0.0.1:{port}/").text
        # the env devstack gives it reaches the page through Vite's import.meta.env
        assert "hello from devstack" in http.get(f"http://127.0.0.1:{port}/main.js").text
        assert "not on its PORT" not in stack.output
        stop_with_ctrl_c(stack, pids)


def test_vite_without_the_flags_is_caught_ignoring_port(project: Path) -> None:
    need_vite()
    root = copy_example("vite", project / "vite")
    config = root / "devstack.toml"
    config.write_text(config.read_text().replace(" --port ${PORT} --strictPort --host ${HOST}", ""))
    assert 'cmd = "npx vite"' in config.read_text()
    with Stack(root, "up", "--no-timestamps") as stack:
        pids = stack.started("web", timeout=10)
        port = assigned(root)["web"]["port"]
        # Vite's own default (5173, or the next free one), not ours
        m = stack.wait_for_line(rf"web listens on (\d+), not on its PORT {port}: pass --port \$\{{PORT\}}",
                                timeout=30)
        assert int(m.group(1)) != port
        stop_with_ctrl_c(stack, pids)


# -- examples/uvicorn ------------------------------------------------------------------------------


def test_uvicorn_app_restarts_on_change_same_port(project: Path, http: httpx.Client) -> None:
    need_module("uvicorn")
    root = copy_example("uvicorn", project / "uv")
    with Stack(root, "up", "--no-timestamps", env=venv_env()) as stack:
        pids = stack.started("app", timeout=10)
        stack.wait_for_line(r"devstack \| app healthy in", timeout=20)
        url = f"http://127.0.0.1:{assigned(root)['app']['port']}/"
        assert http.get(url).json() == {"message": "hello from uvicorn", "version": "1", "service": "app"}
        source = root / "app.py"
        source.write_text(source.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
        stack.wait_for_line(r"devstack \| app restarting: app\.py changed", timeout=10)
        wait_for(lambda: _version(http, url) == "2", timeout=15,
                 message=f"version 2 at {url}:\n{stack.output}")
        assert not alive(pids["app"])
        new = int(re.findall(r"devstack \| app started \(pid (\d+)\)", stack.output)[-1])
        stop_with_ctrl_c(stack, {"app": new})


# -- examples/socket -------------------------------------------------------------------------------


# how each example's answer names its version, and the failures its own graceful stop may cause:
# uvicorn closes a connection it has accepted but not read yet as if it were an idle keep-alive one
# (the client sees RemoteDisconnected, or ConnectionResetError when the request was already in the
# socket's buffer; browsers retry such a GET); gunicorn's sync workers answer everything they accepted.
# The client sends one request at a time, so one reload can fail one request at most. Never a refused
# connection: devstack's socket is always listening.
@pytest.mark.parametrize(("server", "version", "tolerated"), [
    ("uvicorn", r'"version": "{}"', {"RemoteDisconnected", "ConnectionResetError"}),
    ("gunicorn", r"^version {} ", set()),
])
def test_socket_examples_reload_without_refusing_a_request(project: Path, server: str, version: str,
                                                           tolerated: set[str]) -> None:
    """The real servers on the socket devstack holds: a save under a client sending without pause starts
    the new version beside the old one, which then stops; no connection is refused."""
    need_module(server)
    root = copy_example(f"socket/{server}", project / server)
    with Stack(root, "up", "--no-timestamps", env=venv_env()) as stack:
        old = stack.started("app", timeout=10)["app"]
        stack.wait_for_line(r"devstack \| app healthy in", timeout=20)
        client = Client(assigned(root)["app"]["port"])
        try:
            client.wait_for_answer(version.format(1))
            source = root / "app.py"
            source.write_text(source.read_text().replace('VERSION = "1"', 'VERSION = "2"'))
            stack.wait_for_line(rf"devstack \| app restarting: app\.py changed \(overlap: pid {old} serves")
            client.wait_for_answer(version.format(2))
            stack.wait_for_line(r"devstack \| app restarted, healthy in", timeout=20)
            wait_for(lambda: not alive(old), timeout=15, message=f"the old {server} (pid {old}) to stop")
        finally:
            client.stop()
        assert set(client.failures) <= tolerated and len(client.failures) <= 1, client.failures
        assert len(client.latencies) > 20, "the client hardly sent anything"
        new = int(re.findall(r"devstack \| app started \(pid (\d+)\)", stack.output)[-1])
        stop_with_ctrl_c(stack, {"app": new})
