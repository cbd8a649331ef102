"""The environment each service is started with, and its command with ``${...}`` filled in.

Precedence, highest first: the service's own ``env``, the values devstack generates, its env files, the
environment devstack itself inherited. ``HOSTNAME`` is never set: shells and tools read it as the
machine's name. URLs use the literal 127.0.0.1, never ``localhost`` (which may resolve to ::1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .config import Config, Service
from .interpolate import OWN_NAMES, Reference, render
from .naming import env_prefix, port_variables
from .ports.activation import LISTEN_FD, LISTEN_VARS, activation_env
from .tree import RUN_VAR, SERVICE_VAR

__all__ = ("HOST", "Addressing", "Ports", "render_argv", "service_env", "stack_env", "url",
           "write_env_file")

HOST = "127.0.0.1"
Ports = Mapping[str, Mapping[str, int]]  # service -> port key ("port" or a name) -> port


@dataclass(frozen=True)
class Addressing:
    """Where services listen and how they reach each other. devstack's own: all on 127.0.0.1. An
    export elsewhere (``devstack export``) gives each service a host name of its own (``db``) and has
    it listen on every interface of its container (``bind = "0.0.0.0"``); ``keep_unknown`` leaves a
    plain ``${NAME}`` that is not in the service's environment as written, for the target to fill in."""

    bind: str = HOST
    hosts: Mapping[str, str] = field(default_factory=dict)  # service -> host name; others: 127.0.0.1
    keep_unknown: bool = False

    def host(self, service: str) -> str:
        return self.hosts.get(service, HOST)


LOCAL = Addressing()


def url(scheme: str, port: int, host: str = HOST) -> str:
    return f"{scheme}://{host}:{port}"


def stack_env(config: Config, ports: Ports, addressing: Addressing = LOCAL) -> dict[str, str]:
    """What every service is told about every service: ``API_PORT``, ``API_URL``, ``API_ADMIN_PORT``,
    and canonical ``DEVSTACK_API_PORT`` / ``DEVSTACK_API_URL`` copies that no other tool uses."""
    env: dict[str, str] = {}
    for name, svc in config.services.items():
        if not svc.ports:  # port = false: nothing to reach it at, so no WORKER_HOST either
            continue
        host = addressing.host(name)
        env[f"{env_prefix(name)}_HOST"] = host
        for key, port in ports.get(name, {}).items():
            scheme = svc.scheme if key == "port" else "http"
            for var, is_url in port_variables(name, key):
                env[var] = url(scheme, port, host) if is_url else str(port)
    return env


def _resolver(config: Config, ports: Ports, service: Service, env: Mapping[str, str] | None,
              addressing: Addressing = LOCAL) -> Callable[[Reference], str | None]:
    own = ports.get(service.name, {})

    def resolve(ref: Reference) -> str | None:
        if ref.service is None:
            if ref.raw == "PORT" and "port" in own:
                return str(own["port"])
            if ref.raw == "HOST":
                return addressing.bind
            if ref.raw == "FD" and service.socket:
                return str(LISTEN_FD)
            if ref.raw in OWN_NAMES:
                return None
            if env is None:
                return None
            return env.get(ref.raw, None if addressing.keep_unknown else "")
        target = ports.get(ref.service, {})
        scheme = config.services[ref.service].scheme
        host = addressing.host(ref.service)
        if ref.attr == "host":
            return host
        if ref.attr == "port":
            return str(target["port"])
        if ref.attr == "url":
            return url(scheme, target["port"], host)
        if ref.attr == "ports" and ref.sub is not None:
            return str(target[ref.sub])
        if ref.attr == "urls" and ref.sub is not None:
            return url("http", target[ref.sub], host)
        return None

    return resolve


def render_argv(config: Config, ports: Ports, service: Service,
                addressing: Addressing = LOCAL) -> list[str]:
    resolve = _resolver(config, ports, service, None, addressing)
    return [render(arg, resolve) for arg in service.argv]


def service_env(config: Config, service: Service, ports: Ports, run_token: str,
                inherited: Mapping[str, str] | None = None,
                addressing: Addressing = LOCAL) -> dict[str, str]:
    env = dict(os.environ if inherited is None else inherited)
    env.update(service.file_env)
    env.update(stack_env(config, ports, addressing))
    own = ports.get(service.name, {})
    if "port" in own:
        env["PORT"] = str(own["port"])
    else:  # a PORT inherited from elsewhere is not this service's
        env.pop("PORT", None)
    env["HOST"] = addressing.bind
    env["PYTHONUNBUFFERED"] = "1"
    for var in LISTEN_VARS:  # devstack's own, were it socket-activated, are not the service's
        env.pop(var, None)
    if service.socket:
        env.update(activation_env(service.name))
    resolve = _resolver(config, ports, service, env, addressing)
    for key, value in service.env.items():
        env[key] = render(value, resolve)
    # the markers that find a service's processes are not the user's to override
    env[SERVICE_VAR] = service.name
    env[RUN_VAR] = run_token
    return env


def write_env_file(config: Config, ports: Ports) -> None:
    """``.devstack/env``: the generated values, for shells (``set -a; . .devstack/env``) and scripts."""
    from .files import write_private
    from .report import env_lines

    write_private(config.state_dir / "env", "# written by devstack up; every service sees these\n"
                  + env_lines(stack_env(config, ports)) + "\n")
