"""Config errors and config discovery.

Error messages are checked through the real CLI entry point (``devstack check``) in-process, which is
fast enough to cover each message; a few runs of the installed command check the exit code and that no
traceback ever reaches the user.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers.stack import run_devstack, write_config

from devstack.cli import main
from devstack.config import find_config, load_config
from devstack.errors import ConfigError


def check(project: Path, toml: str | None, capsys: pytest.CaptureFixture[str],
          *argv: str) -> tuple[int, list[str]]:
    """Write ``toml`` as devstack.toml (unless None), run ``devstack check``; exit code and stderr lines."""
    if toml is not None:
        (project / "devstack.toml").write_text(textwrap.dedent(toml))
    code = main([*argv, "check"])
    out, err = capsys.readouterr()
    if code == 2:
        assert out == ""
    return code, err.splitlines()


# (toml, the line that must be reported: "FILE:LINE: KEY: ...", words the message must contain)
ERRORS = {
    "unknown key, with a hint": (
        """\
        [services.web]
        cmd = "true"
        comand = "x"
        """,
        "devstack.toml:3: services.web.comand: unknown key", ['did you mean "cmd"?']),
    "unknown key, no close match: the known keys are listed": (
        """\
        [services.web]
        cmd = "true"
        zzzzzz = 1
        """,
        "devstack.toml:3: services.web.zzzzzz: unknown key", ["known keys:", "cmd", "stop_timeout"]),
    "unknown top-level key": (
        """\
        servics = 1
        [services.web]
        cmd = "true"
        """,
        "devstack.toml:1: servics: unknown key", ['did you mean "services"?']),
    "an image that is no image reference": (
        """\
        [services.web]
        cmd = "true"
        image = "Postgres 16"
        """,
        "devstack.toml:3: services.web.image: invalid image reference \"Postgres 16\"",
        ["[registry/]name[:tag]", '"postgres:16"']),
    "cmd of the wrong type": (
        """\
        [services.web]
        cmd = 5
        """,
        "devstack.toml:2: services.web.cmd:", ["expected a string", "array of strings", "found 5",
                                               "an integer"]),
    "cmd array holding a number": (
        """\
        [services.web]
        cmd = ["python", 1]
        """,
        "devstack.toml:2: services.web.cmd:", ["expected an array of strings"]),
    "stop_timeout of the wrong type": (
        """\
        [services.web]
        cmd = "true"
        stop_timeout = "soon"
        """,
        "devstack.toml:3: services.web.stop_timeout:", ["expected a duration", '"soon"']),
    "stop_timeout a boolean": (
        """\
        [services.web]
        cmd = "true"
        stop_timeout = true
        """,
        "devstack.toml:3: services.web.stop_timeout:", ["expected a duration", "true (a boolean)"]),
    "stop_signal unknown": (
        """\
        [services.web]
        cmd = "true"
        stop_signal = "SIGFOO"
        """,
        "devstack.toml:3: services.web.stop_signal:", ["expected a signal name", '"SIGFOO"']),
    "env not a table": (
        """\
        [services.web]
        cmd = "true"
        env = 3
        """,
        "devstack.toml:3: services.web.env:", ["expected a table", "found 3"]),
    "env variable of a bad name": (
        """\
        [services.web]
        cmd = "true"
        env = { "1BAD" = "x" }
        """,
        "devstack.toml:3: services.web.env:", ['"1BAD" is not a valid environment variable name']),
    "empty command string": (
        """\
        [services.web]
        cmd = "  "
        """,
        "devstack.toml:2: services.web.cmd: empty command", ["give the command to run"]),
    "empty command array": (
        """\
        [services.web]
        cmd = []
        """,
        "devstack.toml:2: services.web.cmd: empty command", ["no program to run"]),
    "empty program name in the array": (
        """\
        [services.web]
        cmd = ["", "x"]
        """,
        "devstack.toml:2: services.web.cmd: empty command", ["program name is empty"]),
    "invalid service name": (
        """\
        [services."my app"]
        cmd = "true"
        """,
        "devstack.toml:1: services.my app: invalid service name \"my app\"", ["letters, digits"]),
    "service name reserved for devstack's own messages": (
        """\
        [services.devstack]
        cmd = "true"
        """,
        "devstack.toml:1: services.devstack:", ["reserved"]),
    "missing cwd directory": (
        """\
        [services.web]
        cmd = "true"
        cwd = "no/such/dir"
        """,
        "devstack.toml:3: services.web.cwd: directory not found", ["no/such/dir"]),
    "missing cmd": (
        """\
        [services.web]
        cwd = "."
        """,
        "devstack.toml:1: services.web: missing cmd", ['cmd = "']),
    "service not a table": (
        """\
        [services]
        web = "python -m http.server"
        """,
        "devstack.toml:2: services.web: expected a table", ['found "python -m http.server"']),
    "invalid TOML": (
        """\
        [services.web]
        cmd = "true"
        [services.api
        cmd = "true"
        """,
        "devstack.toml:3: invalid TOML:", ["line 3"]),
    "no services table": (
        """\
        [devstack]
        """,
        "devstack.toml: services: no services", ["[services.NAME]"]),
    "empty services table": (
        """\
        [services]
        """,
        "devstack.toml:1: services: no services", ["[services.NAME]"]),
    "missing env file": (
        """\
        [services.web]
        cmd = "true"
        env_file = "nope.env"
        """,
        "devstack.toml:3: services.web.env_file: env file not found: nope.env", []),
}


@pytest.mark.parametrize("toml, where, words", [
    *(pytest.param(*case, id=name) for name, case in ERRORS.items()),
    pytest.param(
        """\
        [services.web]
        cmd = "true"

        [service.api]
        cmd = "true"
        """,
        "devstack.toml:4: service: unknown key", ['did you mean "services"?'],
        id="unknown table written as a header"),
])
def test_config_error_names_file_key_line(project: Path, capsys: pytest.CaptureFixture[str],
                                          toml: str, where: str, words: list[str]) -> None:
    code, err = check(project, toml, capsys)
    assert code == 2
    assert len(err) == 1, err  # the one problem names its file: no count after it
    assert err[0].startswith(where), err
    for word in words:
        assert word in err[0], err


ENV_ERRORS = {
    "unclosed quote": ('A=1\nB="unclosed\n', ".env:2: malformed line (no closing quotation): "
                                             "'B=\"unclosed'"),
    "line without =": ("A=1\n\n# comment\nJUSTTEXT\n", ".env:4: expected NAME=value, found 'JUSTTEXT'"),
}


@pytest.mark.parametrize("env, expected", ENV_ERRORS.values(), ids=ENV_ERRORS.keys())
def test_malformed_env_file(project: Path, capsys: pytest.CaptureFixture[str], env: str,
                            expected: str) -> None:
    (project / ".env").write_text(env)
    code, err = check(project, '[services.web]\ncmd = "true"\n', capsys)
    assert code == 2
    assert err == [expected]


def test_env_file_values_are_read(project: Path) -> None:
    (project / "local.env").write_text('A=1\nexport B="two words"\nC=\n# D=4\n')
    write_config(project, {"web": {"cmd": "true", "env_file": "local.env"}})
    service = load_config(project / "devstack.toml").services["web"]
    assert dict(service.file_env) == {"A": "1", "B": "two words", "C": ""}


def test_shared_env_file_problem_reported_once(project: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".env").write_text('B="unclosed\n')
    code, err = check(project, '[services.a]\ncmd = "true"\n[services.b]\ncmd = "true"\n', capsys)
    assert code == 2
    assert err == [".env:1: malformed line (no closing quotation): 'B=\"unclosed'"]


def test_every_problem_reported_in_one_pass(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(project, """\
        [services.web]
        cmd = ""
        comand = "x"

        [services."bad name"]
        cmd = []
        cwd = "nope"

        [services.worker]
        stop_timeout = "soon"
        env_file = "missing.env"
        """, capsys)
    assert code == 2
    assert [line.split(": ", 2)[:2] for line in err[:-1]] == [
        ["devstack.toml:2", "services.web.cmd"],
        ["devstack.toml:3", "services.web.comand"],
        ["devstack.toml:5", "services.bad name"],
        ["devstack.toml:6", "services.bad name.cmd"],
        ["devstack.toml:7", "services.bad name.cwd"],
        ["devstack.toml:9", "services.worker"],  # missing cmd
        ["devstack.toml:10", "services.worker.stop_timeout"],
        ["devstack.toml:11", "services.worker.env_file"],
    ], err
    assert err[-1] == "8 problems in devstack.toml"


def test_config_errors_as_a_user_sees_them(project: Path) -> None:
    """The installed command: exit code 2, every problem on stderr, nothing on stdout, no traceback,
    nothing started."""
    (project / "devstack.toml").write_text(textwrap.dedent("""\
        [services.web]
        cmd = "touch started"
        stop_timeout = "soon"

        [services.api]
        cmd = []
        """))
    for args in (["check"], ["up"]):
        result = run_devstack(args, project)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
        assert "devstack.toml:3: services.web.stop_timeout:" in result.stderr
        assert "devstack.toml:6: services.api.cmd: empty command" in result.stderr
        assert result.stderr.rstrip().endswith("2 problems in devstack.toml")
    assert not (project / "started").exists()


@pytest.mark.parametrize("text", [b"[services.web\n", b"\xff\xfe not utf-8", b"services = 3\n"],
                         ids=["invalid TOML", "not UTF-8", "services not a table"])
def test_unreadable_config(project: Path, capsys: pytest.CaptureFixture[str], text: bytes) -> None:
    (project / "devstack.toml").write_bytes(text)
    code, err = check(project, None, capsys)
    assert code == 2
    assert err[0].startswith("devstack.toml:")
    assert len(err) == 1, err


def test_check_validates_without_starting_anything(project: Path) -> None:
    write_config(project, {"web": {"cmd": "touch web-ran"}, "api": {"cmd": ["touch", "api-ran"]}})
    result = run_devstack(["check"], project)
    assert (result.returncode, result.stdout) == (0, "devstack.toml: ok (2 services: web, api)\n"), result
    assert result.stderr == ""
    assert not (project / "web-ran").exists()
    assert not (project / "api-ran").exists()
    assert not (project / ".devstack").exists()


def test_config_found_upward_from_a_subdirectory(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_config(project, {"web": {"cmd": "true"}})
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert main(["check"]) == 0
    assert capsys.readouterr().out == f"{(project / 'devstack.toml').resolve()}: ok (1 service: web)\n"
    assert find_config(deep) == (project / "devstack.toml").resolve()


def test_nearest_config_wins(project: Path) -> None:
    write_config(project, {"outer": {"cmd": "true"}})
    inner = project / "inner"
    inner.mkdir()
    write_config(inner, {"inner": {"cmd": "true"}})
    assert find_config(inner) == (inner / "devstack.toml").resolve()
    assert find_config(project) == (project / "devstack.toml").resolve()


def test_file_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = project / "elsewhere"
    other.mkdir()
    write_config(other, {"a": {"cmd": "true"}}, name="stack.toml")
    write_config(other, {"b": {"cmd": "true"}, "c": {"cmd": "true"}})
    write_config(project, {"here": {"cmd": "true"}})
    assert main(["-f", "elsewhere/stack.toml", "check"]) == 0
    assert capsys.readouterr().out == "elsewhere/stack.toml: ok (1 service: a)\n"
    assert main(["-f", str(other), "check"]) == 0  # a directory: its devstack.toml
    assert capsys.readouterr().out == "elsewhere/devstack.toml: ok (2 services: b, c)\n"


def test_file_option_missing_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(project, None, capsys, "-f", "nope.toml")
    assert code == 2
    assert err[0] == "nope.toml: no such file"


def test_no_config_anywhere(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(project, None, capsys)
    assert code == 2
    assert "no devstack.toml here or in any parent directory" in err[0]


def test_unknown_service_name_on_the_command_line(project: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    write_config(project, {"web": {"cmd": "touch ran"}, "worker": {"cmd": "true"}})
    assert main(["up", "wbe"]) == 2
    err = capsys.readouterr().err
    assert 'no such service: "wbe" (did you mean "web"?)' in err
    assert not (project / "ran").exists()


def test_load_config_raises_config_error_with_all_problems(project: Path) -> None:
    path = write_config(project, {"a": {"cmd": ""}, "b": {"cmd": "true", "stop_signal": "NOPE"}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [(p.key, p.line) for p in info.value.problems] == [("services.a.cmd", 2),
                                                               ("services.b.stop_signal", 6)]


def test_graph_problems_come_with_a_broken_services_own(project: Path) -> None:
    # one pass: web's own problem, the cycle between api and db, and a dependency on nothing; depending
    # on the broken (but declared) web is not reported as "not a service"
    path = write_config(project, {"web": {"cmd": "true", "stop_timeout": "soon"},
                                  "api": {"cmd": "true", "depends_on": ["db", "web"]},
                                  "db": {"cmd": "true", "depends_on": ["api", "cache"]}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [(p.key, p.message) for p in info.value.problems] == [
        ("services.web.stop_timeout", info.value.problems[0].message),
        ("services.api.depends_on", "dependency cycle: api -> db -> api"),
        ("services.db.depends_on", 'depends on "cache", which is not a service'),
    ]


def test_env_file_problem_names_the_key_that_reads_it(project: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (project / "api.env").write_text("A=1\nnot a variable\n")
    code, err = check(project, '[services.api]\ncmd = "true"\nenv_file = "api.env"\n', capsys)
    assert code == 2
    assert err == ["api.env:2: services.api.env_file: expected NAME=value, found 'not a variable'"]


def test_a_newcomers_broken_config_in_one_pass(project: Path) -> None:
    """Every problem at once, in the order of the file, with a guess where one is close: a typo in the
    depends_on of a service that has problems of its own, a reference to a service misspelt (every
    service of the file listed), a misspelt condition, another tool's restart policy, a duration in
    words; found values as TOML writes them."""
    (project / "devstack.toml").write_text(textwrap.dedent("""\
        [services.web]
        cmd = "serve --api ${apii.url}"
        depends_on = { api = "healty" }
        restart = "never"

        [services.api]
        cmd = "python -m api"
        stop_timeout = "5 seconds"
        depends_on = ["databse"]

        [services.database]
        cmd = "postgres"
        health = { http = 5 }
        stop_signal = "SIGTREM"
        """))
    result = run_devstack(["check"], project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        'devstack.toml:2: services.web.cmd: ${apii.url} names no service "apii" (services: web, api, '
        'database); did you mean "api"?',
        'devstack.toml:3: services.web.depends_on: depends_on api: expected one of "started", "healthy", '
        '"completed_successfully", found "healty" (a string); did you mean "healthy"?',
        'devstack.toml:4: services.web.restart: expected one of "no", "on-failure", "always", found '
        '"never" (a string); did you mean "no"?',
        'devstack.toml:8: services.api.stop_timeout: expected a duration (seconds, or a string like '
        '"500ms", "2s", "1m"), found "5 seconds" (a string); did you mean "5s"?',
        'devstack.toml:9: services.api.depends_on: depends on "databse", which is not a service; '
        'did you mean "database"?',
        "devstack.toml:13: services.database.health.http: expected a string, found 5 (an integer)",
        'devstack.toml:14: services.database.stop_signal: expected a signal name such as "SIGTERM", '
        '"SIGINT" or "SIGQUIT", found "SIGTREM" (a string); did you mean "SIGTERM"?',
        "7 problems in devstack.toml",
    ]


def test_reload_and_unknown_key_guesses(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(project, """\
        [services.web]
        cmd = "true"
        reload = "overlay"
        socket = true
        """, capsys)
    assert code == 2
    assert err == ['devstack.toml:3: services.web.reload: expected "restart" (stop, then start) or '
                   '"overlap" (start the new instance first), found "overlay" (a string); '
                   'did you mean "overlap"?']


def test_one_problem_is_not_followed_by_a_count(project: Path) -> None:
    result = run_devstack(["check"], project)  # no config at all
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "no devstack.toml here" in result.stderr


def test_a_service_name_on_the_command_line_gets_a_guess(project: Path) -> None:
    write_config(project, {"web": {"cmd": "true"}, "worker": {"cmd": "true"}})
    for args in (["up", "wbe"], ["logs", "wrker"], ["env", "Web"]):
        result = run_devstack(args, project)
        assert result.returncode == 2
        assert "did you mean" in result.stderr, result.stderr
