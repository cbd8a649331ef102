"""A Procfile (honcho's parser) as a ``Config``: one service per line, run through ``sh -c``."""

from __future__ import annotations

from pathlib import Path

from honcho.environ import parse_procfile

from ..errors import ConfigError, Problem
from .envfile import read_env_file
from .model import Config, Service
from .reading import read_config_text

__all__ = ("load_procfile",)


def load_procfile(path: Path) -> Config:
    try:
        text = read_config_text(path)
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or over the size limit
        raise ConfigError([Problem(str(path), "", f"cannot read Procfile: {exc}")]) from None
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split(":", 1)[0].strip()
        if name in seen and not line.lstrip().startswith("#"):
            problems.append(Problem(path.name, name, "a process of this name is defined twice", number))
        seen.add(name)
    if problems:
        raise ConfigError(problems)
    procfile = parse_procfile(text)
    if not procfile.processes:
        raise ConfigError([Problem(path.name, "", "no processes: each line should read NAME: command")])
    dotenv = path.parent / ".env"
    file_env = read_env_file(dotenv, ".env", problems) if dotenv.is_file() else {}
    if problems:
        raise ConfigError(problems)
    env_files = (dotenv,) if dotenv.is_file() else ()
    services = {
        name: Service(name=name, cmd=cmd, cwd=path.parent, env_files=env_files, file_env=file_env)
        for name, cmd in procfile.processes.items()
    }
    return Config(path=path, services=services)
