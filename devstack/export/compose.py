"""``devstack export compose``: one ``compose.yaml``, a compose service per devstack service.

The checkout is mounted at ``/project`` in every container and each service runs its ``cmd`` in its
``cwd`` there, with the image's tools (``image``, or ``build:`` from a Dockerfile in its cwd): the same
code and commands as ``devstack up``. Inside its container a service listens on every interface
(``HOST=0.0.0.0``: the container is its own network), on the port devstack would give it; the ports are
published on the host's 127.0.0.1 only, and peers are reached by compose service name (``db:20000``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Config, Service
from ..environment import Addressing, render_argv
from .plan import (
    Warnings,
    dump_yaml,
    duration,
    exported_env,
    header,
    peers_by_name,
    plan_ports,
    probe_shell,
    unset_losses,
)

__all__ = ("FILE", "MOUNT", "render")

FILE = "compose.yaml"
MOUNT = "/project"
_CONDITIONS = {"started": "service_started", "healthy": "service_healthy",
               "completed_successfully": "service_completed_successfully"}
_DEFAULT_START_INTERVAL = 0.1


def _escape(text: str) -> str:
    """compose fills in ``$VAR`` from the shell it runs in: ``$$`` is a literal ``$``."""
    return text.replace("$", "$$")


def _rel(path: Path, out_dir: Path) -> str:
    rel = os.path.relpath(path, out_dir)
    return rel if rel.startswith(".") else f"./{rel}"


def render(config: Config, names: Sequence[str], out_dir: Path, warnings: Warnings) -> dict[str, str]:
    ports = plan_ports(config)
    addressing = Addressing(bind="0.0.0.0", hosts={n: n for n in config.services}, keep_unknown=True)
    services = {name: _service(config, peers_by_name(config.services[name]), ports, addressing, out_dir,
                               warnings) for name in names}
    unset_losses(config, names, warnings, backoff=False)
    return {FILE: header("compose", config, out_dir) + dump_yaml({"services": services})}


def _service(config: Config, svc: Service, ports: dict[str, dict[str, int]], addressing: Addressing,
             out_dir: Path, warnings: Warnings) -> dict[str, Any]:
    key = f"services.{svc.name}"
    out: dict[str, Any] = {}
    if svc.image:
        out["image"] = svc.image
    else:
        out["build"] = {"context": _rel(svc.cwd, out_dir)}
        if not (svc.cwd / "Dockerfile").is_file():
            warnings.add(key, f"no image and no Dockerfile in its cwd ({_rel(svc.cwd, config.root)}): set "
                              'image = "..." (the image with the tools its cmd needs), or add a Dockerfile')
    out["command"] = [_escape(a) for a in render_argv(config, ports, svc, addressing)]
    rel_cwd = os.path.relpath(svc.cwd, config.root)
    out["working_dir"] = MOUNT if rel_cwd == "." else f"{MOUNT}/{Path(rel_cwd).as_posix()}"
    out["volumes"] = [f"{_rel(config.root, out_dir)}:{MOUNT}"]
    if svc.env_files:
        out["env_file"] = [_rel(p, out_dir) for p in svc.env_files]
    out["environment"] = {k: _escape(v) for k, v in
                          exported_env(config, svc, ports, addressing, warnings).items()}
    own = ports[svc.name]
    if own:
        out["ports"] = [f"127.0.0.1:{p}:{p}" for p in own.values()]
    health = _healthcheck(svc, own, warnings)
    if health:
        out["healthcheck"] = health
    if svc.depends_on:
        out["depends_on"] = {d.name: {"condition": _condition(config.services[d.name], d.condition)}
                             for d in svc.depends_on}
    out["restart"] = _restart(svc, warnings)
    if svc.profiles:
        out["profiles"] = list(svc.profiles)
    if svc.stop_signal != signal.SIGTERM:
        out["stop_signal"] = svc.stop_signal.name
    out["stop_grace_period"] = duration(svc.stop_timeout)
    if svc.socket:
        warnings.add(f"{key}.socket", "compose cannot hand a listening socket to a container: make cmd "
                                      "bind 0.0.0.0:$PORT itself (e.g. uvicorn --host 0.0.0.0 --port $PORT)")
    return out


def _condition(dependency: Service, condition: str) -> str:
    # a service without a check is ready once started: compose's service_healthy would wait forever
    if condition == "healthy" and dependency.health.kind == "started":
        return "service_started"
    return _CONDITIONS[condition]


def _healthcheck(svc: Service, own: dict[str, int], warnings: Warnings) -> dict[str, Any] | None:
    check = svc.health
    if check.kind == "started":
        return None
    if check.kind == "cmd":
        test = ["CMD-SHELL", _escape(check.target)]
    else:
        test = ["CMD-SHELL", _escape(probe_shell(check, own[check.port or "port"]))]
    if check.start_interval != _DEFAULT_START_INTERVAL:
        warnings.add(f"services.{svc.name}.health.start_interval",
                     "the compose files docker-compose reads have no start_interval: probes run every "
                     "interval from the start")
    return {"test": test, "interval": duration(check.interval), "timeout": duration(check.timeout),
            "retries": check.retries, "start_period": duration(check.start_period)}


def _restart(svc: Service, warnings: Warnings) -> str:
    if svc.max_restarts is not None:
        if svc.restart == "on-failure":
            return f"on-failure:{svc.max_restarts}"
        if svc.restart == "always":
            warnings.add(f"services.{svc.name}.max_restarts", 'compose limits restarts only with restart '
                                                              '"on-failure": restart = "always" restarts '
                                                              "without limit")
    return svc.restart
