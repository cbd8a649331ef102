"""``devstack export``: what each target makes of a stack (ports, peers' addresses, order, health,
restarts, one-shot tasks, sockets), the warnings for what it cannot carry, ``--strict``, deterministic
output, and the files it may replace. The real tools judge the output too (tests/helpers/validators.py);
tests/test_export_validated.py runs them on every shipped config."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import validators

from devstack.cli import main
from devstack.config import HealthCheck, load_config
from devstack.export.plan import probe_shell, stack_name

STACK = """\
[services.db]
cmd = "postgres -p ${PORT} -c listen_addresses=${HOST}"
image = "postgres:16"
scheme = "postgresql"
health = { cmd = "pg_isready -h 127.0.0.1 -p $PORT" }

[services.migrate]
cmd = ["python3", "migrate.py"]
image = "python:3.12-slim"
port = false
env = { DATABASE_URL = "postgresql://127.0.0.1:${db.port}/app" }
depends_on = { db = "healthy" }

[services.api]
cmd = "python3 -m api --port ${PORT} --admin ${api.ports.admin}"
image = "python:3.12-slim"
ports = ["admin"]
env = { DATABASE_URL = "${db.url}/app", HOME_DIR = "$$HOME", SELF = "${api.url}" }
depends_on = { db = "healthy", migrate = "completed_successfully" }
health = { http = "/healthz", interval = "500ms", retries = 2 }
max_restarts = 3

[services.worker]
cmd = "python3 worker.py"
image = "python:3.12-slim"
port = false
depends_on = ["api"]
restart = "always"

[services.seed]
cmd = "python3 seed.py"
image = "python:3.12-slim"
port = false
restart = "no"
"""


def export(project: Path, capsys: pytest.CaptureFixture[str], target: str, *args: str,
           toml: str | None = None) -> tuple[int, Path, list[str]]:
    """Write ``toml`` as devstack.toml, export ``target`` to ./out; the exit code, the directory and the
    warnings printed."""
    if toml is not None:
        (project / "devstack.toml").write_text(textwrap.dedent(toml))
    out = project / "out"
    code = main(["export", target, "-o", str(out), *args])
    _, err = capsys.readouterr()
    warnings = [line.removeprefix("devstack: warning: ") for line in err.splitlines()
                if line.startswith("devstack: warning: ")]
    return code, out, warnings


# -- compose ----------------------------------------------------------------------------------------

def test_compose_carries_ports_peers_order_health_and_restarts(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, warnings = export(project, capsys, "compose", "--strict", toml=STACK)
    assert (code, warnings) == (0, [])
    services = yaml.safe_load((out / "compose.yaml").read_text())["services"]
    db, migrate, api, worker = (services[n] for n in ("db", "migrate", "api", "worker"))
    # ports from the low end of the pool, in config order; published on the host's loopback only
    assert db["ports"] == ["127.0.0.1:20000:20000"]
    assert api["ports"] == ["127.0.0.1:20001:20001", "127.0.0.1:20002:20002"]
    assert "ports" not in migrate and "ports" not in worker
    # peers by compose service name; a literal 127.0.0.1:${db.port} too; a service listens everywhere
    # in its own container; $ is compose's interpolation, so a literal one is $$
    assert api["environment"]["DATABASE_URL"] == "postgresql://db:20000/app"
    assert migrate["environment"]["DATABASE_URL"] == "postgresql://db:20000/app"
    assert api["environment"]["SELF"] == "http://api:20001"
    assert api["environment"]["DB_URL"] == "postgresql://db:20000"
    assert api["environment"]["HOST"] == "0.0.0.0" and api["environment"]["PORT"] == "20001"
    assert api["environment"]["HOME_DIR"] == "$$HOME"
    assert "DEVSTACK_RUN" not in api["environment"]
    assert db["command"] == ["/bin/sh", "-c", "postgres -p 20000 -c listen_addresses=0.0.0.0"]
    assert api["command"][2] == "python3 -m api --port 20001 --admin 20002"
    assert migrate["command"] == ["python3", "migrate.py"]
    assert api["image"] == "python:3.12-slim" and api["working_dir"] == "/project"
    assert api["volumes"] == [f"{os.path.relpath(project, out)}:/project"]
    assert api["depends_on"] == {"db": {"condition": "service_healthy"},
                                 "migrate": {"condition": "service_completed_successfully"}}
    assert worker["depends_on"] == {"api": {"condition": "service_started"}}
    assert (api["restart"], migrate["restart"], worker["restart"]) == ("on-failure:3", "no", "always")
    assert api["healthcheck"]["interval"] == "500ms" and api["healthcheck"]["retries"] == 2
    assert "http://127.0.0.1:20001/healthz" in api["healthcheck"]["test"][1]
    assert db["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -h 127.0.0.1 -p $$PORT"]
    assert "healthcheck" not in worker
    assert validators.compose_schema(out / "compose.yaml") == []
    assert validators.compose_config(out / "compose.yaml") == []


def test_compose_leaves_no_dollar_for_its_own_interpolation(project: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """docker-compose itself says what the container gets: $HOME stays $HOME (written $$HOME), not the
    home directory of whoever runs docker-compose."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (bash scripts/install-test-deps)")
    export(project, capsys, "compose", toml=STACK)
    resolved = subprocess.run(["docker-compose", "-f", "compose.yaml", "config"], cwd=project / "out",
                              env={**os.environ, "HOME": "/nonexistent-home"}, capture_output=True,
                              text=True, check=True, timeout=60).stdout
    assert "/nonexistent-home" not in resolved
    assert yaml.safe_load(resolved)["services"]["api"]["environment"]["HOME_DIR"] == "$$HOME"


def test_compose_builds_from_a_dockerfile_in_the_cwd(project: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (project / "api").mkdir()
    (project / "api" / "Dockerfile").write_text("FROM python:3.12-slim\n")
    code, out, warnings = export(project, capsys, "compose", toml="""\
        [services.api]
        cmd = "python3 app.py"
        cwd = "api"
        """)
    assert (code, warnings) == (0, [])
    api = yaml.safe_load((out / "compose.yaml").read_text())["services"]["api"]
    assert api["build"] == {"context": "../api"} and "image" not in api
    assert api["working_dir"] == "/project/api"


# -- kubernetes -------------------------------------------------------------------------------------

def by_kind(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_kubernetes_deployments_services_probes_and_ordering(project: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, warnings = export(project, capsys, "kubernetes", toml=STACK)
    assert (code, warnings) == (0, ["services.api.max_restarts: a Deployment restarts its pod without "
                                    "limit: max_restarts = 3 is not kept"])
    objects = by_kind(out / "kubernetes.yaml")
    assert sorted(objects) == sorted([
        ("ConfigMap", "db-env"), ("Deployment", "db"), ("Service", "db"),
        ("ConfigMap", "migrate-env"),  # a one-shot task: an init container of what waits for it
        ("ConfigMap", "api-env"), ("Deployment", "api"), ("Service", "api"),
        ("ConfigMap", "worker-env"), ("Deployment", "worker"),
        ("ConfigMap", "seed-env"), ("Job", "seed")])
    api_pod = objects[("Deployment", "api")]["spec"]["template"]["spec"]
    # in dependency order: wait for db's Service, then the migration (after its own wait for db)
    assert [c["name"] for c in api_pod["initContainers"]] == ["wait-for-db", "migrate"]
    assert "nc -z -w 2 db 20000" in api_pod["initContainers"][0]["command"][2]
    migrate = api_pod["initContainers"][1]
    assert migrate["command"] == ["python3", "migrate.py"]
    assert migrate["envFrom"] == [{"configMapRef": {"name": "migrate-env"}}]
    (api,) = api_pod["containers"]
    assert api["ports"] == [{"name": "port", "containerPort": 20001},
                            {"name": "admin", "containerPort": 20002}]
    assert api["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": 20001}, "periodSeconds": 1,
                                     "timeoutSeconds": 2, "failureThreshold": 2}
    assert api["livenessProbe"] == api["readinessProbe"]
    assert api["startupProbe"]["failureThreshold"] == 60 + 2
    assert objects[("Service", "api")]["spec"]["ports"] == [
        {"name": "port", "port": 20001, "targetPort": 20001},
        {"name": "admin", "port": 20002, "targetPort": 20002}]
    assert objects[("ConfigMap", "api-env")]["data"]["DATABASE_URL"] == "postgresql://db:20000/app"
    assert objects[("ConfigMap", "migrate-env")]["data"]["DATABASE_URL"] == "postgresql://db:20000/app"
    db = objects[("Deployment", "db")]["spec"]["template"]["spec"]["containers"][0]
    assert db["readinessProbe"]["exec"] == {"command": ["/bin/sh", "-c", "pg_isready -h 127.0.0.1 -p $PORT"]}
    assert "initContainers" not in objects[("Deployment", "db")]["spec"]["template"]["spec"]
    seed = objects[("Job", "seed")]["spec"]
    assert seed["backoffLimit"] == 0 and seed["template"]["spec"]["restartPolicy"] == "Never"
    assert validators.kubernetes(out / "kubernetes.yaml") == []


def test_kubernetes_names_are_dns_labels(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, warnings = export(project, capsys, "kubernetes", toml="""\
        [services.My_Api]
        cmd = "serve"
        image = "busybox:1.36"
        [services.web]
        cmd = "serve ${My_Api.url}"
        image = "busybox:1.36"
        """)
    assert code == 0
    assert warnings == ["services.My_Api: Kubernetes names are lower-case letters, digits and -: "
                        "exported as my-api"]
    objects = by_kind(out / "kubernetes.yaml")
    assert ("Service", "my-api") in objects
    web = objects[("Deployment", "web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["command"][2] == "serve http://my-api:20000"
    assert validators.kubernetes(out / "kubernetes.yaml") == []


# -- systemd ----------------------------------------------------------------------------------------

def unit(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file: key -> values (in order)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_systemd_units_order_tasks_sockets_and_restarts(project: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, warnings = export(project, capsys, "systemd", toml=STACK + """
[services.web]
cmd = "gunicorn app:app"
socket = true
stop_signal = "SIGINT"
""")
    assert code == 0
    # systemd runs cmd on the machine: each image is said to be unused, nothing else is lost
    assert warnings == [f"services.{n}.image: systemd runs cmd on this machine: the image is not used"
                        for n in ("db", "migrate", "api", "worker", "seed")]
    stack = stack_name(load_config(project / "devstack.toml"))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{stack}.target", f"{stack}-web.socket"]
                           + [f"{stack}-{n}.{ext}" for n in ("db", "migrate", "api", "worker", "seed", "web")
                              for ext in ("service", "env")])
    target = unit(out / f"{stack}.target")
    assert f"{stack}-web.socket" in target["Wants"][0].split() and target["WantedBy"] == ["default.target"]
    api = unit(out / f"{stack}-api.service")
    assert api["After"] == [f"{stack}-db.service {stack}-migrate.service"]
    assert api["Requires"] == api["After"]
    assert api["Type"] == ["exec"] and api["Restart"] == ["on-failure"]
    assert api["StartLimitBurst"] == ["4"] and api["StartLimitIntervalSec"] == ["infinity"]
    assert api["RestartSec"] == ["500ms"] and api["RestartMaxDelaySec"] == ["30s"]
    assert "http://127.0.0.1:20001/healthz" in api["ExecStartPost"][0]  # started = healthy
    assert api["EnvironmentFile"] == [str(out / f"{stack}-api.env")]
    migrate = unit(out / f"{stack}-migrate.service")
    assert (migrate["Type"], migrate["RemainAfterExit"], migrate["Restart"]) == (["oneshot"], ["yes"], ["no"])
    assert migrate["ExecStart"] == ["python3 migrate.py"]
    env = unit(out / f"{stack}-migrate.env")
    assert env["DATABASE_URL"] == ["'postgresql://127.0.0.1:20000/app'"]
    assert unit(out / f"{stack}-api.env")["PORT"] == ["'20001'"]
    web = unit(out / f"{stack}-web.service")
    # systemd passes the socket as devstack does; LISTEN_PID must be the server's: exec'ed by sh
    assert web["ExecStart"] == ['/bin/sh -c "exec gunicorn app:app"']
    assert web["KillSignal"] == ["SIGINT"] and web["Requires"] == [f"{stack}-web.socket"]
    socket = unit(out / f"{stack}-web.socket")
    assert socket["ListenStream"] == ["127.0.0.1:20003"] and socket["FileDescriptorName"] == ["web"]
    units = [p for p in out.iterdir() if p.suffix in (".service", ".socket", ".target")]
    assert validators.systemd_verify(units) == []


def test_systemd_quotes_what_it_would_expand(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = export(project, capsys, "systemd", toml="""\
        [services.a]
        cmd = "echo \\"$HOME\\" 100% ${PORT}"
        env = { QUOTE = "it's $5" }
        """)
    assert code == 0
    stack = stack_name(load_config(project / "devstack.toml"))
    assert unit(out / f"{stack}-a.service")["ExecStart"] == ['/bin/sh -c "echo \\"$$HOME\\" 100%% 20000"']
    assert unit(out / f"{stack}-a.env")["QUOTE"] == ['"it\'s \\$5"']
    assert validators.systemd_verify([out / f"{stack}-a.service"]) == []


# -- warnings, --strict -----------------------------------------------------------------------------

LOSSY = """\
[devstack]
debounce = "300ms"

[services.app]
cmd = "uvicorn app:app --fd ${FD}"
socket = true
reload = "overlap"
watch = true
ignore = ["*.md"]
restart_dependents = true
stop_signal = "SIGINT"
env = { TOKEN = "${SECRET_TOKEN}" }
health = { http = "/", start_interval = "50ms" }
"""


@pytest.mark.parametrize(("target", "keys"), [
    ("compose", ["services.app", "services.app.env.TOKEN", "services.app.health.start_interval",
                 "services.app.socket", "services.app.watch", "services.app.ignore",
                 "services.app.restart_dependents", "services.app.reload", "devstack.debounce"]),
    ("kubernetes", ["services.app.env.TOKEN", "services.app", "services.app.socket",
                    "services.app.stop_signal",
                    "services.app.watch", "services.app.ignore", "services.app.restart_dependents",
                    "services.app.reload", "devstack.debounce"]),
    ("systemd", ["services.app.env.TOKEN", "services.app.watch", "services.app.ignore",
                 "services.app.restart_dependents", "services.app.reload", "devstack.debounce"]),
])
def test_every_key_without_an_equivalent_is_one_warning_and_strict_fails(
        project: Path, capsys: pytest.CaptureFixture[str], target: str, keys: list[str]) -> None:
    code, out, warnings = export(project, capsys, target, "--strict", toml=LOSSY)
    assert code == 1 and not out.exists(), "--strict writes nothing"
    assert [w.split(":", 1)[0] for w in warnings] == keys
    assert all(len(w.split(": ", 1)[1]) > 30 for w in warnings), "each says what to do"
    code, out, again = export(project, capsys, target)
    assert (code, again) == (0, warnings) and any(out.iterdir())


def test_warnings_say_what_to_do(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".env").write_text("SECRET=1\n")
    _, _, warnings = export(project, capsys, "kubernetes", toml="""\
        [services.api]
        cmd = "serve"
        image = "busybox:1.36"
        """)
    assert warnings == ["services.api.env_file: the values of env files are not written into the "
                        "manifests: create the Secret api-env-file from them (kubectl create secret "
                        "generic api-env-file --from-env-file=.env)"]
    _, out, warnings = export(project, capsys, "compose", toml="""\
        [services.api]
        cmd = "serve"
        """)
    assert warnings == ['services.api: no image and no Dockerfile in its cwd (.): set image = "..." '
                        "(the image with the tools its cmd needs), or add a Dockerfile"]
    compose = yaml.safe_load((out / "compose.yaml").read_text())["services"]["api"]
    assert compose["env_file"] == ["../.env"] and "SECRET" not in compose["environment"]


# -- output files -----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["compose", "kubernetes", "systemd"])
def test_output_is_deterministic_and_says_it_was_generated_from_what(
        project: Path, capsys: pytest.CaptureFixture[str], target: str) -> None:
    export(project, capsys, target, toml=STACK)
    first = {p.name: p.read_bytes() for p in (project / "out").iterdir()}
    export(project, capsys, target)
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == first
    for name, text in first.items():
        assert text.startswith(f"# Generated by devstack 0.1.0 (devstack export {target}) from "
                               "../devstack.toml.\n".encode()), name


def test_a_file_export_did_not_write_is_never_replaced(project: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (project / "out").mkdir()
    (project / "out" / "compose.yaml").write_text("services: {mine: {image: x}}\n")
    (project / "devstack.toml").write_text(STACK)
    assert main(["export", "compose", "-o", str(project / "out")]) == 1
    assert "out/compose.yaml exists and was not written by devstack export" in capsys.readouterr().err
    assert (project / "out" / "compose.yaml").read_text() == "services: {mine: {image: x}}\n"


def test_files_of_a_removed_service_go_the_others_stay(project: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    export(project, capsys, "systemd", toml='[services.a]\ncmd = "a"\n[services.b]\ncmd = "b"\n')
    (project / "out" / "notes.txt").write_text("mine\n")
    stack = stack_name(load_config(project / "devstack.toml"))
    older = project / "out" / f"{stack}-b.env"  # as an earlier devstack version wrote it
    older.write_text(older.read_text().replace("devstack 0.1.0", "devstack 0.0.9", 1))
    export(project, capsys, "systemd", toml='[services.a]\ncmd = "a"\n')
    assert {p.name for p in (project / "out").iterdir()} == {
        f"{stack}-a.env", f"{stack}-a.service", f"{stack}.target", "notes.txt"}


def test_default_directory_beside_the_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "devstack.toml").write_text('[services.a]\ncmd = "a"\n')
    (project / "sub").mkdir()
    os.chdir(project / "sub")
    assert main(["export", "compose"]) == 0
    assert (project / "export" / "compose" / "compose.yaml").is_file()
    assert capsys.readouterr().out == f"{project}/export/compose: compose.yaml (1 service, 1 warning)\n"


# -- the probe commands (compose healthchecks, systemd's wait for healthy) --------------------------

@pytest.fixture
def server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("tools", ["python3 only", "the machine's"])
def test_probe_commands_pass_and_fail_with_whatever_tools_there_are(server: int, tmp_path: Path,
                                                                   tools: str) -> None:
    path = os.environ["PATH"]
    if tools == "python3 only":  # no curl, wget, nc or bash: the python3 fallback decides
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "python3").symlink_to(sys.executable)
        path = str(tmp_path / "bin")

    def passes(check: HealthCheck, port: int) -> bool:
        cmd = probe_shell(check, port)
        return subprocess.run(["/bin/sh", "-c", cmd], env={"PATH": path}, capture_output=True,
                              timeout=30).returncode == 0

    http_ok, http_bad = HealthCheck(kind="http", target="/healthz"), HealthCheck(kind="http", target="/x")
    tcp = HealthCheck(kind="tcp")
    assert passes(http_ok, server) and passes(tcp, server)
    assert not passes(http_bad, server)
    gone = closed_port()
    assert not passes(http_ok, gone) and not passes(tcp, gone)


# -- the validators can fail ------------------------------------------------------------------------

def test_the_validators_are_not_blind(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  a:\n    image: x\n    restart_policy: always\n")
    assert validators.compose_schema(compose) and validators.compose_config(compose)
    k8s = tmp_path / "k.yaml"
    k8s.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n")
    assert validators.kubernetes(k8s)
    service = tmp_path / "a.service"
    service.write_text("[Service]\nExecStart=/bin/true\nRestart=sometimes\n")
    assert validators.systemd_verify([service])


# -- profiles and the local override: what devstack up would run ------------------------------------

PROFILED = """\
[services.api]
cmd = "serve"
image = "busybox:1.36"

[services.mail]
cmd = "mailcatcher --port ${PORT}"
image = "busybox:1.36"
profiles = ["debug"]
"""


def test_compose_carries_profiles(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = export(project, capsys, "compose", toml=PROFILED)
    assert code == 0
    services = yaml.safe_load((out / "compose.yaml").read_text())["services"]
    assert services["mail"]["profiles"] == ["debug"] and "profiles" not in services["api"]
    assert validators.compose_config(out / "compose.yaml") == []
    assert main(["export", "compose", "--profile", "debug"]) == 2
    assert "docker compose --profile NAME up" in capsys.readouterr().err


def exported_services(target: str, out: Path) -> list[str]:
    if target == "kubernetes":
        return sorted(n for kind, n in by_kind(out / "kubernetes.yaml") if kind == "Deployment")
    return sorted(p.stem.rsplit("-", 1)[1] for p in out.glob("*.service"))


@pytest.mark.parametrize("target", ["kubernetes", "systemd"])
def test_other_targets_export_the_active_profiles(project: Path, capsys: pytest.CaptureFixture[str],
                                                  target: str) -> None:
    (project / "devstack.toml").write_text(PROFILED)
    out = project / "out"
    assert main(["export", target, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not exported (in no active profile): mail; --profile NAME exports" in err
    assert exported_services(target, out) == ["api"]
    assert main(["export", target, "-o", str(out), "--profile", "debug"]) == 0
    assert "not exported" not in capsys.readouterr().err
    assert exported_services(target, out) == ["api", "mail"]
    assert "mailcatcher --port 20001" in "".join(p.read_text() for p in out.iterdir())


def test_the_local_override_is_exported_too(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "devstack.local.toml").write_text('[services.api]\nimage = "python:3.13-slim"\n')
    code, out, _ = export(project, capsys, "compose", toml=PROFILED)
    assert code == 0
    api = yaml.safe_load((out / "compose.yaml").read_text())["services"]["api"]
    assert api["image"] == "python:3.13-slim"
