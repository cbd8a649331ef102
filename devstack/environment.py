"""The environment each service is started with, and its command with ``${...}`` filled in.

Precedence, highest first: the service's own ``env``, the values devstack generates, its env files, the
environment devstack itself inherited. ``HOSTNAME`` is never set: shells and tools read it as the
machine's name. URLs use the literal 127.0.0.1, never ``localhost`` (which may resolve to ::1).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from .config import Config, Service
from .interpolate import OWN_NAMES, Reference, render
from .naming import env_prefix, port_variables
from .ports.activation import LISTEN_FD, LISTEN_VARS, activation_env
from .tree import RUN_VAR, SERVICE_VAR

__all__ = ("HOST", "Ports", "render_argv", "service_env", "stack_env", "url", "write_env_file")

HOST = "127.0.0.1"
Ports = Mapping[str, Mapping[str, int]]  # service -> port key ("port" or a name) -> port


def url(scheme: str, port: int) -> str:
    return f"{scheme}://{HOST}:{port}"


def stack_env(config: Config, ports: Ports) -> dict[str, str]:
    """What every service is told about every service: ``API_PORT``, ``API_URL``, ``API_ADMIN_PORT``,
    and canonical ``DEVSTACK_API_PORT`` / ``DEVSTACK_API_URL`` copies that no other tool uses."""
    env: dict[str, str] = {}
    for name, svc in config.services.items():
        env[f"{env_prefix(name)}_HOST"] = HOST
        for key, port in ports.get(name, {}).items():
            scheme = svc.scheme if key == "port" else "http"
            for var, is_url in port_variables(name, key):
                env[var] = url(scheme, port) if is_url else str(port)
    return env


def _resolver(config: Config, ports: Ports, service: Service,
              env: Mapping[str, str] | None) -> Callable[[Reference], str | None]:
    own = ports.get(service.name, {})

    def resolve(ref: Reference) -> str | None:
        if ref.service is None:
            if ref.raw == "PORT" and "port" in own:
                return str(own["port"])
            if ref.raw == "HOST":
                return HOST
            if ref.raw == "FD" and service.socket:
                return str(LISTEN_FD)
            if ref.raw in OWN_NAMES:
                return None
            return None if env is None else env.get(ref.raw, "")
        target = ports.get(ref.service, {})
        scheme = config.services[ref.service].scheme
        if ref.attr == "host":
            return HOST
        if ref.attr == "port":
            return str(target["port"])
        if ref.attr == "url":
            return url(scheme, target["port"])
        if ref.attr == "ports" and ref.sub is not None:
            return str(target[ref.sub])
        if ref.attr == "urls" and ref.sub is not None:
            return url("http", target[ref.sub])
        return None

    return resolve


def render_argv(config: Config, ports: Ports, service: Service) -> list[str]:
    resolve = _resolver(config, ports, service, None)
    return [render(arg, resolve) for arg in service.argv]


def service_env(config: Config, service: Service, ports: Ports, run_token: str,
                inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if inherited is None else inherited)
    env.update(service.file_env)
    env.update(stack_env(config, ports))
    own = ports.get(service.name, {})
    if "port" in own:
        env["PORT"] = str(own["port"])
    else:  # a PORT inherited from elsewhere is not this service's
        env.pop("PORT", None)
    env["HOST"] = HOST
    env["PYTHONUNBUFFERED"] = "1"
    for var in LISTEN_VARS:  # devstack's own, were it socket-activated, are not the service's
        env.pop(var, None)
    if service.socket:
        env.update(activation_env(service.name))
    resolve = _resolver(config, ports, service, env)
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
