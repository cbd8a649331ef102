"""The command line as a newcomer types it: durations as plain seconds, ``-f`` after the command, and a
``--help`` for every command that says what it does, with its arguments, formats, defaults and an example.
All through the real ``devstack`` command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from helpers.stack import run_devstack, write_config

from devstack.arguments import READY_TIMEOUT, parser


@pytest.mark.parametrize("args", [
    ["wait", "--timeout", "30"],
    ["wait", "--timeout", "2.5"],
    ["restart", "web", "--timeout", "10"],
    ["up", "-d", "--timeout", "7", "--help"],
])
def test_a_plain_number_is_seconds_on_the_command_line(project: Path, args: list[str]) -> None:
    write_config(project, {"web": {"cmd": "sleep 60"}})
    result = run_devstack(args, project)
    assert "is not a duration" not in result.stderr
    if "--help" not in args:
        assert result.returncode == 1 and "no stack is running" in result.stderr, result.stderr


def test_logs_since_a_plain_number(project: Path) -> None:
    write_config(project, {"web": {"cmd": "sleep 60"}})
    result = run_devstack(["logs", "--since", "5"], project)
    assert result.returncode == 0, result.stderr


def test_a_bad_duration_says_what_a_duration_is(project: Path) -> None:
    write_config(project, {"web": {"cmd": "sleep 60"}})
    result = run_devstack(["wait", "--timeout", "soon"], project)
    assert result.returncode == 2
    assert "'soon' is not a duration (try 30, 500ms, 2s, 5m)" in result.stderr


def _two_configs(project: Path) -> Path:
    write_config(project, {"web": {"cmd": "sleep 60"}})
    other = project / "other"
    other.mkdir()
    return write_config(other, {"api": {"cmd": "sleep 60"}, "db": {"cmd": "sleep 60"}}, name="other.toml")


@pytest.mark.parametrize("flag", ["-f", "--file"])
def test_file_after_the_command(project: Path, flag: str) -> None:
    other = _two_configs(project)
    result = run_devstack(["check", flag, str(other)], project)
    assert result.returncode == 0, result.stderr
    assert "2 services: api, db" in result.stdout
    # still before the command, and the later one wins
    assert "2 services" in run_devstack(["-f", str(other), "check"], project).stdout
    assert "1 service: web" in run_devstack(["-f", str(other), "check", "-f", "devstack.toml"],
                                            project).stdout


@pytest.mark.parametrize("command", ["status", "ports", "wait", "down"])
def test_file_after_any_command_that_reads_a_stack(project: Path, command: str) -> None:
    other = _two_configs(project)
    result = run_devstack([command, "-f", str(other)], project)
    assert "unrecognized arguments" not in result.stderr
    assert result.returncode in (0, 1), result.stderr


def test_logs_f_is_still_follow_and_the_file_is_long_only(project: Path) -> None:
    other = _two_configs(project)
    follow = run_devstack(["logs", "-f"], project)
    assert follow.returncode == 1 and "nothing to follow" in follow.stderr
    named = run_devstack(["logs", "--file", str(other), "api"], project)
    assert named.returncode == 0, named.stderr
    unknown = run_devstack(["logs", "api"], project)  # not in ./devstack.toml: proves --file was read
    assert unknown.returncode == 2 and "no such service" in unknown.stderr


def _help(project: Path, *command: str) -> str:
    result = run_devstack([*command, "--help"], project)
    assert result.returncode == 0, result.stderr
    return result.stdout


# every command the parser has, those added later included
COMMANDS = [name for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_an_example(project: Path, command: str) -> None:
    text = _help(project, command)
    usage, _, rest = text.partition("\n\n")
    summary = rest.splitlines()[0]
    assert summary.endswith("."), text  # the one-line summary, as a sentence
    description = rest.split("\n\n")[1]
    assert len(description.split()) >= 8, text
    assert re.search(r"^examples:\n  devstack " + command, text, re.MULTILINE), text
    # the summary is also what `devstack --help` lists for it
    assert summary[:20].lower() in _help(project).lower().replace("\n", " ")


@pytest.mark.parametrize("command", ["up", "start", "stop", "restart", "wait", "logs", "env"])
def test_name_arguments_are_explained(project: Path, command: str) -> None:
    text = _help(project, command)
    assert re.search(r"^  NAME\s+\S", text, re.MULTILINE), text


@pytest.mark.parametrize("command", ["up", "restart", "wait"])
def test_one_ready_timeout_default_and_the_duration_format(project: Path, command: str) -> None:
    text = " ".join(_help(project, command).split())
    assert f"default {READY_TIMEOUT:g}s" in text, text
    assert "a plain number is seconds" in text and "500ms" in text


def test_init_help_mentions_the_procfile(project: Path) -> None:
    assert "Procfile" in _help(project, "init")


def test_logs_help_names_the_duration_format(project: Path) -> None:
    text = " ".join(_help(project, "logs").split())
    assert "--since DURATION" in text and "a plain number is seconds" in text
