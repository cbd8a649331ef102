"""Every shipped devstack.toml (the repository's own and each example's), exported to each target and
judged by that target's own tools: docker-compose and the compose-spec schema, kubernetes-validate,
systemd-analyze. A tool that is not installed skips its test, saying so (scripts/install-test-deps)."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from conftest import wait_for
from helpers import validators
from helpers.stack import run_devstack

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted([REPO / "devstack.toml", *REPO.glob("examples/*/devstack.toml"),
                  *REPO.glob("examples/*/*/devstack.toml")])
IDS = [str(p.relative_to(REPO).parent) for p in SHIPPED]


def export(config: Path, target: str, out: Path) -> list[Path]:
    result = run_devstack(["-f", str(config), "export", target, "-o", str(out)], out.parent)
    assert result.returncode == 0, result.stderr
    return sorted(out.iterdir())


def test_every_example_is_exported() -> None:
    assert REPO / "devstack.toml" in SHIPPED
    assert {p.parent.name for p in SHIPPED} >= {"postgres", "redis", "vite", "uvicorn", "gunicorn", "stdlib"}


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_compose_file_passes_docker_compose_and_the_compose_spec(config: Path, tmp_path: Path) -> None:
    (path,) = export(config, "compose", tmp_path / "out")
    assert validators.compose_schema(path) == []
    assert validators.compose_config(path) == []


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_kubernetes_manifests_pass_kubernetes_validate(config: Path, tmp_path: Path) -> None:
    (path,) = export(config, "kubernetes", tmp_path / "out")
    assert validators.kubernetes(path) == []


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_systemd_units_pass_systemd_analyze_verify(config: Path, tmp_path: Path) -> None:
    files = export(config, "systemd", tmp_path / "out")
    units = [p for p in files if p.suffix in (".service", ".socket", ".target")]
    assert validators.systemd_verify(units) == []


def free_pool_port() -> int:
    """A port of devstack's pool that nothing holds now (never a fixed one)."""
    from devstack.ports import is_free

    start = random.randrange(20000, 29000)
    return next(p for p in range(start, start + 1000) if is_free(p))


def test_systemd_passes_its_socket_to_the_exported_stdlib_example(tmp_path: Path) -> None:
    """systemd's own socket passing (systemd-socket-activate, the code of a .socket unit without a
    running systemd) with the exported units' ListenStream, FileDescriptorName, ExecStart,
    WorkingDirectory and environment file: the stdlib example serves, which it only does when
    LISTEN_PID is its own pid and fd 3 is the socket."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate not installed (bash scripts/install-test-deps: systemd)")
    project = tmp_path / "stdlib"
    shutil.copytree(REPO / "examples" / "socket" / "stdlib", project)
    port = free_pool_port()
    with (project / "devstack.toml").open("a") as f:
        f.write(f"port = {port}\n")  # the last table is [services.web]
    (unit_dir := tmp_path / "units").mkdir()
    export(project / "devstack.toml", "systemd", unit_dir)
    socket, service = (dict(line.split("=", 1) for line in (unit_dir / f"stdlib-web.{kind}").read_text()
                            .splitlines() if "=" in line and not line.startswith("#"))
                       for kind in ("socket", "service"))
    assert socket["ListenStream"] == f"127.0.0.1:{port}"
    env = dict(shlex.split(line)[0].split("=", 1) for line in Path(service["EnvironmentFile"]).read_text()
               .splitlines() if line and not line.startswith("#"))
    assert env["PORT"] == str(port)
    argv = [tool, "-l", socket["ListenStream"], f"--fdname={socket['FileDescriptorName']}", "-E", "PATH",
            *(a for k, v in env.items() for a in ("-E", f"{k}={v}")), *shlex.split(service["ExecStart"])]
    proc = subprocess.Popen(argv, cwd=service["WorkingDirectory"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            def healthy() -> bool:
                try:
                    return client.get(f"http://127.0.0.1:{port}/healthz").text == "ok"
                except httpx.TransportError:
                    return False

            wait_for(healthy, timeout=20, message="the socket-activated example to answer")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert b"serving version 1" in out, out
