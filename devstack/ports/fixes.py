"""The fix a port finding names, for the tool that is really running.

"Pass --port ${PORT}" is wrong for half the servers people run: Django takes ``runserver HOST:PORT``,
Python's http.server a positional port and ``--bind``, gunicorn ``--bind HOST:PORT``, and an npm script
only passes options on after ``--``. The tool is told from the service's ``cmd`` (what the user can
edit) and the command lines of its processes (what really runs: ``npm run dev`` runs vite)::

    >>> Fixes.of("python manage.py runserver", []).port
    'pass the address to runserver: manage.py runserver ${HOST}:${PORT}'
    >>> Fixes.of("npm run dev", [["node", "/app/node_modules/.bin/vite"]]).port
    'pass it through npm: npm run dev -- --port ${PORT} --strictPort'
    >>> Fixes.of("./serve", []).port
    'pass the port on its command line: --port ${PORT} (or the option it takes a port with)'
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ("Fixes", "tool_of")

# tool -> (how to give it the port, how to bind it to 127.0.0.1), as options added to its command line
_OPTIONS: dict[str, tuple[str, str]] = {
    "vite": ("--port ${PORT} --strictPort", "--host ${HOST}"),
    "webpack": ("--port ${PORT}", "--host ${HOST}"),
    "next": ("-p ${PORT}", "-H ${HOST}"),
    "astro": ("--port ${PORT}", "--host ${HOST}"),
    "flask": ("--port ${PORT}", "--host ${HOST}"),
    "uvicorn": ("--port ${PORT}", "--host ${HOST}"),
    "gunicorn": ("--bind ${HOST}:${PORT}", "--bind ${HOST}:${PORT}"),
    "hypercorn": ("--bind ${HOST}:${PORT}", "--bind ${HOST}:${PORT}"),
    "rails": ("-p ${PORT}", "-b ${HOST}"),
    "hugo": ("--port ${PORT}", "--bind ${HOST}"),
    "jekyll": ("--port ${PORT}", "--host ${HOST}"),
    "redis-server": ("--port ${PORT}", "--bind ${HOST}"),
    "postgres": ("-p ${PORT}", "-c listen_addresses=${HOST}"),
}
# tools whose port goes somewhere an added option cannot say: the whole fix
_WHOLE: dict[str, tuple[str, str]] = {
    "django": ("pass the address to runserver: manage.py runserver ${HOST}:${PORT}",
               "pass the address to runserver: manage.py runserver ${HOST}:${PORT}"),
    "http.server": ("give the port as its argument: python3 -m http.server ${PORT} --bind ${HOST}",
                    "bind it to ${HOST}: python3 -m http.server ${PORT} --bind ${HOST}"),
    "php": ("give it the address: php -S ${HOST}:${PORT}", "give it the address: php -S ${HOST}:${PORT}"),
    # a Node program of its own (Express, Fastify, http.createServer): its code chooses the port
    "node": ("listen on process.env.PORT in its code: app.listen(process.env.PORT, process.env.HOST)",
             "listen on process.env.HOST in its code: app.listen(process.env.PORT, process.env.HOST)"),
}
_RUNNERS = ("npm", "yarn", "pnpm", "bun")
_WRAPPERS = {"exec", "env", "npx", "bunx", "pnpx", "nohup", "time", "poetry", "uv", "pipenv", "run",
             "bundle", "pdm", "hatch", "rye"}
_SEPARATORS = re.compile(r"&&|\|\||[;|&\n]")


def _words(cmd: str) -> list[list[str]]:
    """The simple commands of a ``cmd`` string, last first (``cd x && exec gunicorn app`` -> gunicorn's)."""
    out = []
    for part in _SEPARATORS.split(cmd):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if words:
            out.append(words)
    return out[::-1]


def _name(word: str) -> str:
    base = os.path.basename(word)
    base = re.sub(r"\.(js|mjs|cjs|py|rb)$", "", base)
    return re.sub(r"^python[0-9.]*$", "python", base)


def tool_of(argv: Sequence[str]) -> str | None:
    """The tool an argv runs, as ``_OPTIONS`` and ``_WHOLE`` name it; npm, yarn, pnpm and bun by their
    own name; None when it is none of them."""
    words = [w for w in argv if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w)]  # FOO=1 cmd
    names = [_name(w) for w in words]
    if "runserver" in names and any(n in ("manage", "django-admin") for n in names):
        return "django"
    if "-m" in names[:-1]:
        module = names[names.index("-m") + 1]
        if module in ("http.server", "SimpleHTTPServer"):
            return "http.server"
        if module in _OPTIONS:
            return module
    if "php" in names and "-S" in words:
        return "php"
    for name in names:
        if name in _WRAPPERS or name in ("python", "node", "ruby", "bin"):
            continue
        if name in _RUNNERS:
            return name
        if name in ("webpack-dev-server", "webpack-cli"):
            return "webpack"
        if name in ("rails", "next", "vite", "hugo", "jekyll", "astro") or name in _OPTIONS:
            return name
        if name in ("postgres", "postmaster"):
            return "postgres"
        if not name.startswith("-"):
            break  # the program itself: not one we know
    return "node" if names and names[0] == "node" else None


@dataclass(frozen=True)
class Fixes:
    """What to tell a service that ignores its port (``port``) or binds beyond loopback (``bind``)."""

    port: str
    bind: str

    @classmethod
    def of(cls, cmd: str, running: Iterable[Sequence[str]]) -> Fixes:
        """From the service's ``cmd`` (its display form) and the argv of each of its processes (those
        that listen first)."""
        written = [t for t in (tool_of(w) for w in _words(cmd)) if t]
        seen = [t for t in (tool_of(a) for a in running) if t and t not in _RUNNERS]
        tool = written[0] if written else (seen[0] if seen else None)
        inner = seen[0] if seen else None  # what an npm script really runs
        if tool in _RUNNERS:
            return cls._through(tool, cmd, inner)
        if tool in _WHOLE:
            return cls(*_WHOLE[tool])
        if tool in _OPTIONS:
            port, bind = _OPTIONS[tool]
            return cls(f"pass {port}", f"bind it to 127.0.0.1: {bind}")
        return cls("pass the port on its command line: --port ${PORT} (or the option it takes a port with)",
                   "bind it to 127.0.0.1 (${HOST}): --host ${HOST} or --bind ${HOST}, as it spells it")

    @classmethod
    def _through(cls, runner: str, cmd: str, inner: str | None) -> Fixes:
        """``npm run dev`` passes options to the script after ``--``; yarn, pnpm and bun pass them on."""
        script = next((w for w in _words(cmd) if w and _name(w[0]) == runner), [runner, "run", "dev"])
        prefix = " ".join(script) + (" --" if runner == "npm" else "")
        port, bind = _OPTIONS.get(inner or "", ("--port ${PORT}", "--host ${HOST}"))
        return cls(f"pass it through {runner}: {prefix} {port}", f"bind it to 127.0.0.1: {prefix} {bind}")
