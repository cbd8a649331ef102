"""Hostile config and env files: NUL bytes, .env values a line-by-line shell parser used to change, and
files far over any real config's size (a sparse devstack.toml or env file of 10 GB).
Each is a clear message naming file, key and line (exit 2), at once, with no traceback; what a service
gets from a .env is exactly what python-dotenv reads from it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import python
from dotenv import dotenv_values
from helpers.stack import run_devstack, write_config

ENV_FILE = """\
E_A='hello world'
E_PASS=p@ss#word
E_TAB=a\tb
E_REDIS=redis://:pa#ss@127.0.0.1:6379/0
E_COMMENT=value # a comment
E_DOUBLE="two\\nlines and a \\"quote\\""
export E_EXPORTED=yes
E_EMPTY=
E_DOLLAR=${NOT_INTERPOLATED}
"""


def check(project: Path) -> tuple[int, str]:
    out = run_devstack(["check"], project)
    assert "Traceback" not in out.stdout + out.stderr, out
    return out.returncode, out.stdout + out.stderr


def test_a_service_gets_what_python_dotenv_reads(project: Path) -> None:
    (project / ".env").write_text(ENV_FILE)
    expected = dotenv_values(project / ".env", interpolate=False)
    show = python("import json, os; print('ENV=' + json.dumps({k: v for k, v in os.environ.items() "
                  "if k.startswith('E_')}))")
    write_config(project, {"show": {"cmd": show, "port": False, "restart": "no"}})
    assert check(project)[0] == 0
    out = run_devstack(["up", "--no-watch"], project)
    assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr, out
    line = next(x for x in out.stdout.splitlines() if "| ENV=" in x)
    assert json.loads(line.split("| ENV=", 1)[1]) == expected
    assert expected["E_PASS"] == "p@ss#word" and expected["E_TAB"] == "a\tb"  # what the issue saw lost


NUL_CONFIGS = {  # TOML's \\u0000 escape is the only way a NUL byte gets into devstack.toml
    "env value": ('[services.api]\ncmd = "echo hello"\nenv = { SECRET = "a\\u0000b" }\n',
                  "devstack.toml:3: services.api.env.SECRET: a NUL byte"),
    "cmd argument": ('[services.api]\nport = false\ncmd = ["echo", "hel\\u0000lo"]\n',
                     "devstack.toml:3: services.api.cmd: a NUL byte"),
    "cmd string": ('[services.api]\ncmd = "echo hel\\u0000lo"\n',
                   "devstack.toml:2: services.api.cmd: a NUL byte"),
    "env file": ('[services.api]\ncmd = "echo hello"\nenv_file = "app.env"\n',
                 "app.env:2: services.api.env_file: a NUL byte in 'B'"),
}


@pytest.mark.parametrize("where", NUL_CONFIGS)
def test_a_nul_byte_is_an_error_with_file_key_and_line(project: Path, where: str) -> None:
    text, expected = NUL_CONFIGS[where]
    (project / "devstack.toml").write_text(text)
    (project / "app.env").write_text("A=1\nB=x\0y\n")
    code, shown = check(project)
    assert code == 2 and expected in shown, shown
    out = run_devstack(["up", "--no-watch"], project)  # up refuses it the same way, starting nothing
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr, out


def test_huge_files_are_refused_at_once(project: Path) -> None:
    config = write_config(project, {"api": {"cmd": "true", "port": False}})
    with open(config, "r+b") as f:  # sparse: 10 GB apparent, nothing on disk
        f.truncate(10 * 1024**3)
    for command in (["check"], ["up"], ["ports"], ["env", "api"]):
        began = time.monotonic()
        out = run_devstack(command, project)
        assert time.monotonic() - began < 5, command
        assert out.returncode == 2 and "over the limit of 1024 KiB" in out.stderr, (command, out)
        assert "Traceback" not in out.stdout + out.stderr and "MemoryError" not in out.stderr
    config.unlink()
    write_config(project, {"api": {"cmd": "true", "port": False, "env_file": "big.env"}})
    with open(project / "big.env", "wb") as f:
        f.truncate(10 * 1024**3)
    code, text = check(project)
    assert code == 2 and "big.env: services.api.env_file: cannot read env file: over the limit" in text, text


def test_a_big_env_file_within_the_limit_is_read_in_linear_time(project: Path) -> None:
    lines = [f"K{i}='value {i} with # and spaces'" if i % 2 else f"K{i}=plain{i}#kept" for i in range(25_000)]
    (project / ".env").write_text("\n".join(lines) + "\n")
    assert (project / ".env").stat().st_size < 1024 * 1024
    write_config(project, {"api": {"cmd": "true", "port": False}})
    began = time.monotonic()
    code, text = check(project)
    took = time.monotonic() - began
    assert code == 0, text
    assert took < 8, f"check of a {len(lines)}-line .env took {took:.1f} s"


COLLISIONS = {
    "canonical copy": ({"x": {"cmd": "true"}, "devstack-x": {"cmd": "true"}},
                       'services "x" and "devstack-x" both become DEVSTACK_X_PORT'),
    "named port": ({"a": {"cmd": "true", "ports": ["b"]}, "a-b": {"cmd": "true"}},
                   'services "a" and "a-b" both become A_B_PORT'),
    "same prefix": ({"my-api": {"cmd": "true"}, "my_api": {"cmd": "true"}},
                    'services "my-api" and "my_api" both become MY_API_HOST'),
}


@pytest.mark.parametrize("case", COLLISIONS)
def test_every_generated_variable_takes_part_in_the_collision_check(project: Path, case: str) -> None:
    services, expected = COLLISIONS[case]
    write_config(project, services)
    code, text = check(project)
    assert code == 2 and expected in text and "rename one" in text, text


def test_names_that_only_look_alike_are_fine(project: Path) -> None:
    write_config(project, {"devstack-x": {"cmd": "true"}, "y": {"cmd": "true", "ports": ["x"]}})
    code, text = check(project)
    assert code == 0, text
