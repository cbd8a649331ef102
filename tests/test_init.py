"""``devstack init``: a devstack.toml from a Procfile (and .env), or a commented starter; never over an
existing file without --force; what it writes passes ``devstack check``, the schema, and runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from helpers.stack import run_devstack
from jsonschema import Draft202012Validator

from devstack.schema import load_schema

VALIDATOR = Draft202012Validator(load_schema())


def assert_valid(project: Path) -> dict[str, object]:
    check = run_devstack(["check"], project)
    assert check.returncode == 0, check
    data = tomllib.loads((project / "devstack.toml").read_text())
    assert [e.message for e in VALIDATOR.iter_errors(data)] == []
    return data


def test_without_a_procfile_a_commented_starter_that_runs(project: Path) -> None:
    out = run_devstack(["init"], project)
    assert out.returncode == 0, out
    assert "wrote devstack.toml: a starter to edit (web)" in out.stdout
    text = (project / "devstack.toml").read_text()
    assert text.count("\n#") >= 10  # explained, line by line
    data = assert_valid(project)
    assert data == {"services": {"web": {"cmd": "python3 -m http.server ${PORT} --bind ${HOST}"}}}
    # every commented-out example is valid too, once uncommented
    uncommented = re.sub(r"^# ?(?=\[|[a-z_]+ = )", "", text, flags=re.MULTILINE)
    uncommented = uncommented.replace("[services.api]\n", '[services.api]\ncmd = "true"\n')
    full = tomllib.loads(uncommented)
    assert set(full["services"]) == {"web", "worker", "migrate", "api"}
    assert [e.message for e in VALIDATOR.iter_errors(full)] == []


def test_never_overwrites_without_force(project: Path) -> None:
    (project / "devstack.toml").write_text("# mine\n")
    out = run_devstack(["init"], project)
    assert out.returncode == 1
    assert "devstack.toml exists already; devstack init --force replaces it" in out.stderr
    assert (project / "devstack.toml").read_text() == "# mine\n"
    out = run_devstack(["init", "--force"], project)
    assert out.returncode == 0, out
    assert_valid(project)


def test_from_a_procfile_and_env_and_the_result_runs(project: Path) -> None:
    (project / "Procfile").write_text(
        "# comments are skipped\n"
        "web: python3 -m http.server $PORT --bind 127.0.0.1\n"
        "hello: echo \"greeting=$GREETING port=$PORT shell-pid=$$\"\n")
    (project / ".env").write_text("GREETING=from-dotenv\n")
    out = run_devstack(["init"], project)
    assert out.returncode == 0, out
    assert "from Procfile (web, hello)" in out.stdout
    text = (project / "devstack.toml").read_text()
    assert text.startswith("# devstack.toml, written by `devstack init` from Procfile and .env.")
    data = assert_valid(project)
    assert data["services"] == {  # no env_file: the .env is read anyway
        "web": {"cmd": "python3 -m http.server $PORT --bind 127.0.0.1"},
        "hello": {"cmd": 'echo "greeting=$GREETING port=$PORT shell-pid=$$$$"'},
    }
    # and it runs: the .env reaches the service, $PORT is its port, $$ is still the shell's pid
    up = run_devstack(["up", "--no-timestamps", "hello"], project)
    assert up.returncode == 0, up
    port = tomllib.loads((project / ".devstack" / "ports.toml").read_text())["hello"]["port"]
    pid = re.search(r"hello started \(pid (\d+)\)", up.stdout)
    assert pid is not None, up.stdout
    assert f"greeting=from-dotenv port={port} shell-pid={pid.group(1)}\n" in up.stdout


def test_a_line_that_never_mentions_port_gets_port_false(project: Path) -> None:
    (project / "Procfile").write_text("worker: python3 worker.py\nweb: gunicorn app:app\n"
                                      "api: uvicorn app:app --port ${PORT}\n")
    assert run_devstack(["init"], project).returncode == 0
    assert assert_valid(project)["services"] == {
        "worker": {"cmd": "python3 worker.py", "port": False},
        "web": {"cmd": "gunicorn app:app"},  # web reads PORT itself, by Heroku's convention
        "api": {"cmd": "uvicorn app:app --port ${PORT}"},
    }


def test_an_empty_procfile_is_an_error_and_writes_nothing(project: Path) -> None:
    (project / "Procfile").write_text("# nothing\n")
    out = run_devstack(["init"], project)
    assert out.returncode == 2
    assert "no processes" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in project.iterdir() if not p.name.startswith(".xdg")) == ["Procfile"]


def test_init_with_f_writes_there(project: Path) -> None:
    (project / "sub").mkdir()
    out = run_devstack(["-f", "sub/stack.toml", "init"], project)
    assert out.returncode == 0, out
    assert (project / "sub" / "stack.toml").is_file() and not (project / "devstack.toml").exists()
    assert run_devstack(["-f", "sub/stack.toml", "check"], project).returncode == 0
