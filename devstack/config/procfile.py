"""A Procfile (honcho's parser) as a ``Config``: one service per line, run through ``sh -c``."""

from __future__ import annotations

import re
from pathlib import Path

from honcho.environ import parse_procfile

from ..errors import ConfigError, Problem
from .envfile import read_env_file
from .model import Config, HealthCheck, Service
from .reading import read_config_text

__all__ = ("load_procfile", "needs_port")

_PORT = re.compile(r"(?<![A-Za-z0-9_])PORT(?![A-Za-z0-9_])")


def needs_port(name: str, cmd: str) -> bool:
    """Does a Procfile line get a port? When it mentions ``PORT`` (``$PORT``, ``${PORT}``); and the
    ``web`` process always, since by Heroku's convention its program reads ``PORT`` from its environment
    (gunicorn, puma and ``npm start`` apps do). Any other line is a worker: ``port = false``."""
    return name == "web" or bool(_PORT.search(cmd))


def _service(name: str, cmd: str, cwd: Path, env_files: tuple[Path, ...],
                     file_env: dict[str, str]) -> Service:
    """The service of one Procfile line, as ``devstack init`` writes it: a port (and the default check,
    ready when the port accepts a connection) when it needs one, else ``port = false``."""
    if needs_port(name, cmd):
        return Service(name=name, cmd=cmd, cwd=cwd, env_files=env_files, file_env=file_env,
                       health=HealthCheck(kind="port"))
    return Service(name=name, cmd=cmd, cwd=cwd, env_files=env_files, file_env=file_env, ports=())


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
    services = {name: _service(name, cmd, path.parent, env_files, file_env)
                for name, cmd in procfile.processes.items()}
    return Config(path=path, services=services)
