"""Read devstack.toml (or a Procfile) into a ``Config``, reporting every problem in one pass.

Each problem names the file, the key path, the line where it can be found, what was expected and what
was found; ``ConfigError`` carries them all. Nothing here prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import graph
from ..errors import ConfigError, Problem
from ..interpolate import references
from ..naming import generated_names
from ..wording import did_you_mean, quote
from .discover import CONFIG_NAME, PROCFILE_NAME, find_config, shown
from .envfile import read_env_file
from .fields import (
    Invalid,
    describe,
    parse_bool,
    parse_cmd,
    parse_depends_on,
    parse_duration,
    parse_image,
    parse_int,
    parse_named_ports,
    parse_port,
    parse_port_range,
    parse_profiles,
    parse_reload,
    parse_restart,
    parse_scheme,
    parse_signal,
    parse_str,
    parse_str_list,
    parse_str_table,
    parse_watch,
)
from .model import Config, Dependency, HealthCheck, HealthKind, PortSpec, Service, Settings
from .overlay import Source, local_path, merge, read_source, source_of

__all__ = ("CONFIG_NAME", "SERVICE_KEYS", "SETTINGS_KEYS", "find_config", "load_config", "shown")

RESERVED_NAMES = frozenset({"devstack"})
_GLOB = re.compile(r"[*?\[]")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")

# key -> parser. The order is the order of the config reference.
SERVICE_KEYS: dict[str, Callable[[Any], Any]] = {
    "cmd": parse_cmd,
    "image": parse_image,
    "cwd": parse_str,
    "env": parse_str_table,
    "env_file": lambda v: parse_str_list(v, what="paths"),
    "stop_signal": parse_signal,
    "stop_timeout": parse_duration,
    "port": parse_port,
    "ports": parse_named_ports,
    "scheme": parse_scheme,
    "socket": parse_bool,
    "health": lambda v: v,  # a table or false, read by _health
    "depends_on": parse_depends_on,
    "watch": parse_watch,
    "ignore": lambda v: parse_str_list(v, what="patterns"),
    "restart_dependents": parse_bool,
    "reload": parse_reload,
    "restart": parse_restart,
    "max_restarts": lambda v: parse_int(v, low=0, high=1_000_000),
    "profiles": parse_profiles,
    "enabled": parse_bool,  # false (in devstack.local.toml, say): the service is not part of the stack
    "interactive": parse_bool,
}
HEALTH_KEYS: dict[str, Callable[[Any], Any]] = {
    "http": parse_str,
    "tcp": parse_bool,
    "cmd": parse_str,
    "port": parse_str,
    "interval": parse_duration,
    "timeout": parse_duration,
    "retries": lambda v: parse_int(v, low=1, high=1000),
    "start_period": parse_duration,
    "start_interval": parse_duration,
}
SETTINGS_KEYS: dict[str, Callable[[Any], Any]] = {
    "port_range": parse_port_range,
    "debounce": parse_duration,
    "watch_polling": parse_bool,
    "restart_backoff": parse_duration,
    "restart_backoff_max": parse_duration,
    "restart_reset": parse_duration,
}
TOP_KEYS = ("services", "devstack")


class _Reader:
    """Walks the parsed TOML, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, sources: list[Source]) -> None:
        self.path = path
        self.sources = sources  # devstack.toml, then devstack.local.toml if there is one
        self.shown = shown(path)
        self.disabled: set[str] = set()  # services with enabled = false
        self.problems: list[Problem] = []
        self.env_files: dict[Path, dict[str, str]] = {}  # each env file read (and judged) once

    def problem(self, key: tuple[str, ...], message: str) -> None:
        # each problem is told in the file that sets its key, at its line; finding a line reads the
        # whole text: only for the problems that will be shown
        source = source_of(self.sources, key)
        line = source.line(key) if len(self.problems) < ConfigError.SHOWN else None
        self.problems.append(Problem(source.shown, ".".join(key), message, line))

    def table(self, value: Any, key: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(key, f"expected a table, found {describe(value)}")
            return None
        return value

    def unknown_keys(self, table: dict[str, Any], known: Any, key: tuple[str, ...]) -> None:
        for name in table:
            if name not in known:
                if len(self.problems) >= ConfigError.SHOWN:  # not shown: no hint to look for
                    self.problem((*key, name), "unknown key")
                    continue
                suggestion = did_you_mean(name, known) or f" (known keys: {', '.join(known)})"
                self.problem((*key, name), f"unknown key{suggestion}")

    def fields(self, table: dict[str, Any], spec: dict[str, Callable[[Any], Any]],
               key: tuple[str, ...]) -> dict[str, Any]:
        self.unknown_keys(table, spec, key)
        out: dict[str, Any] = {}
        for name, parser in spec.items():
            if name in table:
                try:
                    out[name] = parser(table[name])
                except Invalid as exc:
                    self.problem((*key, name), str(exc))
        return out


def load_config(path: Path) -> Config:
    """Read and validate the config at ``path`` (a devstack.toml or a Procfile)."""
    if path.name == PROCFILE_NAME and path.suffix != ".toml":
        from .procfile import load_procfile

        return load_procfile(path)
    sources = read_sources(path)
    data: dict[str, Any] = {}
    for source in sources:
        data = merge(data, source.data)
    return _build(path, sources, data)


def read_sources(path: Path) -> list[Source]:
    """The config file, and the personal override beside it (devstack.local.toml) when there is one."""
    sources = [read_source(path)]
    local = local_path(path)
    if local.is_file():
        sources.append(read_source(local))
    return sources


def _build(path: Path, sources: list[Source], data: dict[str, Any]) -> Config:
    r = _Reader(path, sources)
    _null_bytes(r, data, ())
    if r.problems:  # a NUL byte cannot reach a process (argv, env, paths): nothing else is worth judging
        raise ConfigError(r.problems)
    r.unknown_keys(data, TOP_KEYS, ())
    settings = Settings(**r.fields(r.table(data.get("devstack", {}), ("devstack",)) or {},
                                   SETTINGS_KEYS, ("devstack",)))
    if "port_range" in data.get("devstack", {}):
        from ..ports.pool import check_range  # here: ports imports the config model

        why = check_range(*settings.port_range)
        if why:
            r.problem(("devstack", "port_range"), why)
    services: dict[str, Service] = {}
    raw_services = data.get("services")
    if raw_services is None:
        r.problems.append(Problem(r.shown, "services", 'no services: add a [services.NAME] table with '
                                  'cmd = "..." for each process to run', None))
    elif (table := r.table(raw_services, ("services",))) is not None:
        if not table:
            r.problem(("services",), "no services: add a [services.NAME] table with cmd = \"...\"")
        r.disabled = {n for n, raw in table.items() if isinstance(raw, dict) and raw.get("enabled") is False}
        for name, raw in table.items():
            if name in r.disabled:
                continue
            service = _service(r, name, raw)
            if service is not None:
                services[name] = service
        _check_stack(r, services, table)
        # with the invalid services left out: their own problems and the graph's come in one pass
        for name, message in graph.problems(services, declared=table.keys()):
            r.problem(("services", name, "depends_on"), message)
        for name, raw in table.items():  # and the invalid ones' dependencies on nothing
            if name not in services and name not in r.disabled:
                for dep in _dependency_names(raw):
                    if dep not in table:
                        r.problem(("services", name, "depends_on"), graph.unknown_dependency(dep, table))
        services = _one_shot_defaults(services, table)
    if r.problems:
        raise ConfigError(r.problems)
    return Config(path=path, services=services, settings=settings,
                  overrides=tuple(s.path for s in sources[1:]), disabled=tuple(sorted(r.disabled)))


def _null_bytes(r: _Reader, value: Any, key: tuple[str, ...]) -> None:
    """A NUL byte (TOML's ``\\u0000``) in any key or string: no command, argument, variable or path can
    hold one, and the service would fail at its start instead."""
    if isinstance(value, str):
        if "\0" in value:
            r.problem(key, "a NUL byte (\\u0000) cannot be part of a command, an argument, a variable "
                           "or a path: remove it")
    elif isinstance(value, dict):
        for name, item in value.items():
            if "\0" in name:
                r.problem((*key, name), "a NUL byte (\\u0000) in a key: remove it")
            else:
                _null_bytes(r, item, (*key, name))
    elif isinstance(value, list):
        for item in value:
            _null_bytes(r, item, key)


def _service(r: _Reader, name: str, raw: Any) -> Service | None:
    key = ("services", name)
    before = len(r.problems)
    if not _NAME.match(name):
        r.problem(key, f"invalid service name {quote(name)}: use letters, digits, - and _, starting with a "
                       "letter or digit (at most 63 characters)")
    elif name in RESERVED_NAMES:
        r.problem(key, f"the service name {quote(name)} is reserved for devstack's own messages")
    table = r.table(raw, key)
    if table is None:
        return None
    values = r.fields(table, SERVICE_KEYS, key)
    if "cmd" not in table:
        r.problem(key, 'missing cmd: the command to run, e.g. cmd = "python -m http.server ${PORT}"')
    root = r.path.parent
    cwd = root
    if "cwd" in values:
        cwd = (root / values.pop("cwd")).resolve()
        if not cwd.is_dir():
            r.problem((*key, "cwd"), f"directory not found: {cwd} (cwd is relative to {r.shown})")
    env_files, file_env = _env_files(r, key, values.pop("env_file", None))
    ports = _ports(values.pop("port", True), values.pop("ports", {}))
    health = _health(r, key, table.get("health"), ports)
    values.pop("health", None)
    values.pop("enabled", None)
    # a service switched off is run some other way, or not needed: its dependents do not wait for it
    depends_on = tuple(Dependency(n, c) for n, c in values.pop("depends_on", ()) if n not in r.disabled)
    watch = _watch(r, key, values.pop("watch", False), cwd)
    _activation(r, key, values, ports, health)
    if len(r.problems) > before:
        return None
    return Service(name=name, cwd=cwd, env_files=env_files, file_env=file_env, ports=ports, health=health,
                   depends_on=depends_on, watch=watch, **values)


def _check_stack(r: _Reader, services: dict[str, Service], declared: dict[str, Any]) -> None:
    """What needs every service at once: env-variable names, ${...} references. The references of a
    service with problems of its own are judged too (from its raw table); only the names in references
    to such a service are (its ports are not known)."""
    by_var: dict[str, str] = {}  # every generated variable (canonical copies included) -> its service
    for name, service in services.items():
        for var in generated_names(name, (p.key for p in service.ports)):
            other = by_var.setdefault(var, name)
            if other != name:
                r.problem(("services", name), f"services {quote(other)} and {quote(name)} both become {var} "
                          "in the environment: rename one")
                break
    port_keys: dict[str, set[str] | None] = dict.fromkeys(declared)
    port_keys.update({n: {p.key for p in s.ports} for n, s in services.items()})
    for name, raw in declared.items():
        if name in r.disabled:
            continue
        svc = services.get(name)
        for where, text in _texts(raw):
            for ref in references(text):
                if ref.service in r.disabled:
                    r.problem(("services", name, *where),
                              f"${{{ref.raw}}}: {quote(ref.service)} is switched off (enabled = false)")
                    continue
                problem = ref.problem(port_keys)
                if svc is not None and problem is None and not ref.dotted:
                    if ref.raw == "PORT" and not any(p.key == "port" for p in svc.ports):
                        problem = "${PORT}: this service has no port (port = false)"
                    elif ref.raw == "FD" and not svc.socket:
                        problem = "${FD} is the socket devstack listens on for the service: set socket = true"
                if problem is not None:
                    r.problem(("services", name, *where), problem)


def _texts(raw: Any) -> list[tuple[tuple[str, ...], str]]:
    """The strings of a raw service table that may hold ``${...}``, with their key paths."""
    if not isinstance(raw, dict):
        return []
    cmd = raw.get("cmd")
    cmds = [cmd] if isinstance(cmd, str) else cmd if isinstance(cmd, list) else []
    texts: list[tuple[tuple[str, ...], str]] = [(("cmd",), t) for t in cmds if isinstance(t, str)]
    env = raw.get("env")
    if isinstance(env, dict):
        texts += [(("env", k), v) for k, v in env.items() if isinstance(v, str)]
    return texts


def _dependency_names(raw: Any) -> list[str]:
    """The service names a raw table's ``depends_on`` mentions, however wrong the rest of it is."""
    deps = raw.get("depends_on") if isinstance(raw, dict) else None
    if isinstance(deps, str):
        return [deps]
    if isinstance(deps, list):
        return [d for d in deps if isinstance(d, str)]
    return list(deps) if isinstance(deps, dict) else []


def _one_shot_defaults(services: dict[str, Service], table: dict[str, Any]) -> dict[str, Service]:
    """A service that another waits for with ``completed_successfully`` is a one-shot task (a
    migration): it is not restarted unless its own ``restart`` says so."""
    awaited = {d.name for s in services.values() for d in s.depends_on
               if d.condition == "completed_successfully"}
    explicit = {name for name, raw in table.items() if isinstance(raw, dict) and "restart" in raw}
    return {name: replace(svc, restart="no") if name in awaited - explicit else svc
            for name, svc in services.items()}


def _ports(port: int | bool, named: dict[str, int | None]) -> tuple[PortSpec, ...]:
    main = [] if port is False else [PortSpec("", None if port is True else port)]
    return (*main, *(PortSpec(n, pin) for n, pin in named.items()))


def _health(r: _Reader, key: tuple[str, ...], raw: Any, ports: tuple[PortSpec, ...]) -> HealthCheck:
    """``health = false``, a table with one of http / tcp / cmd, or (absent) the default: ready when
    the main port accepts a connection, or once started for a service without a port."""
    has_port = bool(ports) and ports[0].name == ""
    default = HealthCheck(kind="port" if has_port else "started")
    if raw is None:
        return default
    key = (*key, "health")
    if raw is False:
        return HealthCheck(kind="started")
    if not isinstance(raw, dict):
        r.problem(key, f'expected false or a table such as {{ http = "/healthz" }}, found {describe(raw)}')
        return default
    values = r.fields(raw, HEALTH_KEYS, key)
    kinds = [k for k in ("http", "tcp", "cmd") if k in raw]
    if len(kinds) != 1:
        r.problem(key, 'expected exactly one of http = "/path", tcp = true or cmd = "..."'
                  + (f", found {' and '.join(kinds)}" if kinds else ""))
        return default
    kind: HealthKind = kinds[0]  # type: ignore[assignment]
    if kind == "tcp" and values.get("tcp") is False:
        r.problem((*key, "tcp"), "tcp = false checks nothing: use health = false to turn checks off")
    if kind == "http" and not str(values.get("http", "/")).startswith("/"):
        r.problem((*key, "http"), f"expected a path starting with /, found {describe(raw['http'])}")
    port = values.pop("port", "")
    named = sorted(p.name for p in ports if p.name)
    if kind in ("http", "tcp"):
        if port and port not in named:
            r.problem((*key, "port"), f"the service has no port named {quote(port)}"
                      + (f" (named ports: {', '.join(named)})" if named else ""))
        elif not port and not has_port:
            r.problem(key, f"a {kind} check needs a port, and the service has port = false "
                           '(name one of its ports with port = "NAME")')
    target = str(values.pop(kind, "") if kind != "tcp" else "")
    values.pop("tcp", None)
    return HealthCheck(kind=kind, target=target, port=port, **values)


def _activation(r: _Reader, key: tuple[str, ...], values: dict[str, Any], ports: tuple[PortSpec, ...],
                health: HealthCheck) -> None:
    """``socket = true`` needs a main port to listen on; ``reload = "overlap"`` needs the socket (two
    instances cannot bind one port) and a check that can tell the new instance from the old one."""
    has_port = bool(ports) and ports[0].name == ""
    if values.get("socket") and not has_port:
        r.problem((*key, "socket"), "socket = true needs the service's main port, and it has port = false")
    if values.get("reload") == "overlap":
        if not values.get("socket"):
            r.problem((*key, "reload"), 'reload = "overlap" needs socket = true: two instances can only '
                      "serve one port through a socket devstack holds")
        elif health.kind not in ("http", "tcp", "port") or health.port:
            r.problem((*key, "reload"), 'reload = "overlap" needs an http or tcp health check on the main '
                      "port (or none: the port check), to know when the new instance answers")


def _watch(r: _Reader, key: tuple[str, ...], value: bool | tuple[str, ...], cwd: Path) -> tuple[str, ...]:
    """Absolute paths or glob patterns; a path (not a pattern) that does not exist is an error."""
    if value is False:
        return ()
    if value is True:
        return (str(cwd),)
    out = []
    for entry in value:
        path = os.path.normpath(os.path.join(cwd, entry))
        if not _GLOB.search(entry) and not os.path.exists(path):
            r.problem((*key, "watch"), f"watch path not found: {entry} (relative to the service's cwd {cwd})")
        out.append(path)
    return tuple(out)


def _env_files(r: _Reader, key: tuple[str, ...],
               names: tuple[str, ...] | None) -> tuple[tuple[Path, ...], dict[str, str]]:
    root = r.path.parent
    named = names is not None  # else: the project's .env, when there is one (no key brought it in)
    if names is None:
        default = root / ".env"
        names = (".env",) if default.is_file() else ()
    paths = tuple((root / n).resolve() for n in names)
    env: dict[str, str] = {}
    for name, path in zip(names, paths, strict=True):
        if not path.is_file():
            r.problem((*key, "env_file"), f"env file not found: {name} (relative to {r.shown})")
            continue
        if path not in r.env_files:
            where = ".".join((*key, "env_file")) if named else ""
            r.env_files[path] = read_env_file(path, shown(path), r.problems, where)
        env.update(r.env_files[path])
    return paths, env

