"""``devstack init``: write a devstack.toml for the project in the current directory.

With a Procfile there, one service per Procfile line (honcho's parser), written with tomli-w, with
``port = false`` on a line that does not need a port (``procfile.needs_port``): the same services
``devstack up`` runs from the Procfile itself. (A .env is read without an ``env_file`` key.) Without
one, a commented starter to edit.
The file is validated before it is written (it passes ``devstack check``), and an existing devstack.toml
is never replaced without ``--force``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import tomli_w
from honcho.environ import parse_procfile

from ..config import load_config
from ..config.discover import CONFIG_NAME, PROCFILE_NAME
from ..config.overlay import local_path
from ..config.procfile import needs_port
from ..errors import ConfigError, DevstackError, Problem
from .common import shown

__all__ = ("STARTER", "from_procfile", "ignore_local", "init")

HEADER = """\
# devstack.toml, written by `devstack init` from {source}. `devstack up` runs it; `devstack check`
# validates it; every key is in `devstack schema` and the README's "Configuration reference".
# Each service gets its own port in $PORT (${{PORT}} here), except those whose line never mentions
# PORT (web always has one): they say port = false. A .env beside this file is read by every service.
# Health checks, depends_on and watch are yours to add.

"""

STARTER = """\
# devstack.toml: the services of this project. `devstack up` starts them; `devstack check` validates
# this file; `devstack schema` prints its JSON Schema; the README's "Configuration reference" has
# every key.

[services.web]
# A string runs through sh -c. devstack assigns each service a port of its own, the same on every run,
# and hands it over as $PORT (${PORT} here); ${HOST} is 127.0.0.1.
cmd = "python3 -m http.server ${PORT} --bind ${HOST}"
# health = { http = "/", interval = "2s" }   # ready when GET / answers 200-399 (default: the port
#                                            # accepts a connection)
# watch = true                               # restart when a file under its directory changes
# env = { API_URL = "${api.url}" }           # other services: ${NAME.url}, ${NAME.port}, $NAME_URL

# [services.worker]
# cmd = "python3 worker.py"
# port = false                               # it serves nothing
# depends_on = { web = "healthy" }           # start it once web is healthy
# restart = "on-failure"                     # the default; "always" or "no"

# [services.migrate]                         # a one-shot task that others wait for
# cmd = "python3 manage.py migrate"
# port = false
# [services.api]
# depends_on = { migrate = "completed_successfully" }
"""


def from_procfile(procfile: Path) -> str:
    """The devstack.toml text for a Procfile (and the .env beside it, if any)."""
    try:
        text = procfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(shown(procfile), "", f"cannot read Procfile: {exc}")]) from None
    processes = parse_procfile(text).processes
    if not processes:
        raise ConfigError([Problem(shown(procfile), "", "no processes: each line should read NAME: command")])
    has_env = (procfile.parent / ".env").is_file()
    services: dict[str, Any] = {}
    for name, cmd in processes.items():
        # devstack reads $$ as a literal $: double it so that the shell still sees $$ (its pid)
        service: dict[str, Any] = {"cmd": cmd.replace("$$", "$$$$")}
        if not needs_port(name, cmd):
            service["port"] = False
        services[name] = service
    source = PROCFILE_NAME + (" and .env" if has_env else "")
    return HEADER.format(source=source) + tomli_w.dumps({"services": services})


def init(args: argparse.Namespace) -> int:
    target: Path = args.file if args.file is not None else Path(CONFIG_NAME)
    target = target / CONFIG_NAME if target.is_dir() else target
    target = target.absolute()
    if target.exists() and not args.force:
        raise DevstackError(f"{shown(target)} exists already; devstack init --force replaces it")
    procfile = target.parent / PROCFILE_NAME
    text = from_procfile(procfile) if procfile.is_file() else STARTER
    # validate before writing: in the target's directory, so that cwd and env_file paths resolve
    draft = target.with_name(f".{target.name}.init-{os.getpid()}")
    try:
        draft.write_text(text, encoding="utf-8")
        config = load_config(draft)
        os.replace(draft, target)
    finally:
        draft.unlink(missing_ok=True)
    names = ", ".join(config.services)
    source = f"from {PROCFILE_NAME}" if procfile.is_file() else "a starter to edit"
    print(f"wrote {shown(target)}: {source} ({names}); devstack up runs it")
    if ignore_local(target):
        print(f"added {local_path(target).name} (your own overrides, never committed) to .gitignore")
    return 0


def ignore_local(config: Path) -> bool:
    """Add the personal override file of ``config`` to the .gitignore beside it, unless it is there
    already; True when it was added."""
    gitignore = config.parent / ".gitignore"
    entry = local_path(config).name
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if any(line.strip() in (entry, "/" + entry) for line in text.splitlines()):
        return False
    with gitignore.open("a", encoding="utf-8") as f:
        f.write(("" if not text or text.endswith("\n") else "\n") + entry + "\n")
    return True
