"""devstack.local.toml merged over devstack.toml: tables key by key, other values replaced, a service
switched off, every problem told in the file (and at the line) it comes from, ``devstack config`` and
``devstack init``'s .gitignore entry."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from helpers.stack import run_devstack

from devstack.config import load_config

MAIN = """\
[services.db]
cmd = "sleep 60"
port = false

[services.api]
cmd = "sleep 60"
port = false
depends_on = { db = "healthy" }
env = { A = "1", B = "2" }
ignore = ["*.log", "tmp/"]
stop_timeout = 3
"""

LOCAL = """\
# mine: a database of my own, more patience, another B
[services.db]
enabled = false

[services.api]
env = { B = "mine" }
ignore = ["*.tmp"]

[services.extra]
cmd = "sleep 61"
port = false
"""


def write(project: Path, main: str = MAIN, local: str | None = LOCAL) -> None:
    (project / "devstack.toml").write_text(main)
    if local is not None:
        (project / "devstack.local.toml").write_text(local)


def test_tables_merge_key_by_key_and_other_values_are_replaced(project: Path) -> None:
    write(project)
    config = load_config(project / "devstack.toml")
    api = config.services["api"]
    assert dict(api.env) == {"A": "1", "B": "mine"}
    assert api.ignore == ("*.tmp",)  # an array replaces the array below
    assert api.stop_timeout == 3  # untouched keys stay
    assert list(config.services) == ["api", "extra"]  # db is switched off, extra added
    assert api.depends_on == ()  # a dependency switched off is not waited for
    assert config.overrides == (project / "devstack.local.toml",)
    out = run_devstack(["check"], project)
    assert out.returncode == 0
    assert out.stdout.startswith("devstack.toml + devstack.local.toml: ok (2 services: api, extra")


def test_a_service_switched_off_named_on_the_command_line_says_so(project: Path) -> None:
    write(project)
    out = run_devstack(["up", "db"], project)
    assert out.returncode == 2
    assert out.stderr.startswith('devstack: no such service: "db" (switched off: enabled = false)')


def test_without_a_local_file_nothing_changes(project: Path) -> None:
    write(project, local=None)
    config = load_config(project / "devstack.toml")
    assert list(config.services) == ["db", "api"] and config.overrides == ()


def test_problems_name_the_file_and_line_they_come_from(project: Path) -> None:
    write(project, main=MAIN + 'max_restarts = "x"\n', local='[services.api]\nenv = { B = "2" }\n'
          'stop_timeout = "soon"\ncomand = "x"\n\n[services.new]\nport = false\n')
    out = run_devstack(["check"], project)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert sorted(line.split(": expected")[0].split(": unknown")[0].split(": missing")[0]
                  for line in lines[:-1]) == [
        "devstack.local.toml:3: services.api.stop_timeout",
        "devstack.local.toml:4: services.api.comand",
        "devstack.local.toml:6: services.new",
        "devstack.toml:12: services.api.max_restarts",
    ]
    assert lines[-1] == "4 problems in devstack.local.toml, devstack.toml"
    assert "Traceback" not in out.stderr


def test_invalid_toml_in_the_local_file_is_told_there(project: Path) -> None:
    write(project, local="[services.api]\nenv = { B = }\n")
    out = run_devstack(["check"], project)
    assert out.returncode == 2
    assert out.stderr.startswith("devstack.local.toml:2: invalid TOML: ")


def test_a_reference_to_a_service_switched_off_is_a_problem(project: Path) -> None:
    write(project, main='[services.db]\ncmd = "sleep 60"\n\n[services.api]\ncmd = "sleep 60"\n'
                        'env = { DB = "${db.url}" }\n', local="[services.db]\nenabled = false\n")
    out = run_devstack(["check"], project)
    assert out.returncode == 2, out.stdout
    assert 'devstack.toml:6: services.api.env.DB: ${db.url}: "db" is switched off (enabled = false)' \
        in out.stderr


def test_devstack_config_prints_the_merged_result(project: Path) -> None:
    write(project)
    out = run_devstack(["config"], project)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# the configuration devstack runs: devstack.toml + devstack.local.toml\n"
                                 "# switched off (enabled = false): db\n")
    merged = tomllib.loads(out.stdout)
    assert merged == {"services": {
        "api": {"cmd": "sleep 60", "port": False, "depends_on": {"db": "healthy"},
                "env": {"A": "1", "B": "mine"}, "ignore": ["*.tmp"], "stop_timeout": 3},
        "extra": {"cmd": "sleep 61", "port": False}}}
    out = run_devstack(["config", "--json"], project)
    assert json.loads(out.stdout) == merged
    # what it prints is itself a config that runs the same services
    (project / "devstack.local.toml").unlink()
    (project / "devstack.toml").write_text(run_devstack(["config"], project).stdout)
    assert run_devstack(["check"], project).returncode == 0


def test_devstack_config_checks_first(project: Path) -> None:
    write(project, local="[services.api]\nstop_timeout = -1\n")
    out = run_devstack(["config"], project)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("devstack.local.toml:2: services.api.stop_timeout:")


def test_init_adds_the_local_file_to_gitignore_once(project: Path) -> None:
    (project / ".gitignore").write_text("node_modules")  # no final newline
    out = run_devstack(["init"], project)
    assert out.returncode == 0, out.stderr
    assert "added devstack.local.toml" in out.stdout
    assert (project / ".gitignore").read_text() == "node_modules\ndevstack.local.toml\n"
    out = run_devstack(["init", "--force"], project)
    assert out.returncode == 0 and "added" not in out.stdout
    assert (project / ".gitignore").read_text() == "node_modules\ndevstack.local.toml\n"
