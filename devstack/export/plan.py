"""What every export target shares: the ports, each service's environment as the target sees it, the
one-shot tasks, the probe commands, the warnings about what a target cannot carry, and the header that
says a file was generated.

Ports are planned from devstack.toml alone, so that an export is the same on every machine: a pinned
port as pinned, every other port the next free number from the low end of ``[devstack] port_range``,
in the order of the config (the stack's ports never collide, whatever the target shares).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__
from ..config import Config, HealthCheck, Service, Settings
from ..environment import Addressing, Ports, service_env
from ..errors import DevstackError
from ..interpolate import OWN_NAMES, references
from ..ports.activation import LISTEN_VARS
from ..tree import RUN_VAR

__all__ = ("Warnings", "dump_yaml", "duration", "exported_env", "header", "is_generated", "one_shot",
           "peers_by_name", "plan_ports", "probe_shell", "seconds", "stack_name", "unset_losses")


@dataclass
class Warnings:
    """One line per key a target has no equivalent for: ``services.api.watch: ...``, in config order."""

    target: str
    lines: list[str] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        line = f"{key}: {message}"
        if line not in self.lines:
            self.lines.append(line)


def plan_ports(config: Config) -> dict[str, dict[str, int]]:
    """service -> port key -> port: pinned ones as pinned, the others numbered from the pool's low end."""
    low, high = config.settings.port_range
    pinned = {spec.pinned for svc in config.services.values() for spec in svc.ports if spec.pinned}
    taken = set(pinned)
    nxt = low
    out: dict[str, dict[str, int]] = {}
    for name, svc in config.services.items():
        own: dict[str, int] = {}
        for spec in svc.ports:
            if spec.pinned is not None:
                own[spec.key] = spec.pinned
                continue
            while nxt in taken:
                nxt += 1
            if nxt > high:
                raise DevstackError(f"[devstack] port_range {low}-{high} has too few ports for the stack")
            own[spec.key] = nxt
            taken.add(nxt)
        out[name] = own
    return out


def one_shot(config: Config) -> set[str]:
    """Services another waits for with ``completed_successfully``: tasks that run once and end."""
    return {d.name for s in config.services.values() for d in s.depends_on
            if d.condition == "completed_successfully"}


_LOOPBACK_PEER = re.compile(r"(?:127\.0\.0\.1|localhost|\$\{HOST\})"
                            r"(:\$\{([A-Za-z0-9][A-Za-z0-9_-]*)\.(?:port|ports\.\w+)\})")


def peers_by_name(svc: Service) -> Service:
    """``127.0.0.1:${db.port}`` (or ``localhost:``, ``${HOST}:``) in ``cmd`` and ``env`` as
    ``${db.host}:${db.port}``: where each service has a host of its own, that is the peer's address."""

    def fix(text: str) -> str:
        return _LOOPBACK_PEER.sub(lambda m: f"${{{m.group(2)}.host}}{m.group(1)}", text)

    cmd = fix(svc.cmd) if isinstance(svc.cmd, str) else tuple(fix(a) for a in svc.cmd)
    return replace(svc, cmd=cmd, env={k: fix(v) for k, v in svc.env.items()})


def exported_env(config: Config, service: Service, ports: Ports, addressing: Addressing,
                 warnings: Warnings) -> dict[str, str]:
    """What the service is given, as the target needs it written: devstack's generated values with the
    target's addresses, and its ``env``; without the values of its env files (the target reads those
    files itself), the run's marker and the socket variables (a target that passes sockets sets them)."""
    env = service_env(config, service, ports, run_token="", inherited={}, addressing=addressing)
    for key in (RUN_VAR, *LISTEN_VARS):
        env.pop(key, None)
    for key, value in service.file_env.items():
        if env.get(key) == value and key not in service.env:
            del env[key]
    for key, value in service.env.items():
        for ref in references(value):
            if not ref.dotted and ref.raw not in OWN_NAMES and ref.raw not in service.file_env \
                    and ref.raw not in env:
                warnings.add(f"services.{service.name}.env.{key}",
                             f"${{{ref.raw}}} comes from the environment devstack is started in, which "
                             f"an export cannot know; it is written as it is: set {ref.raw} in env or an "
                             "env_file")
    return dict(sorted(env.items()))


def unset_losses(config: Config, names: Sequence[str], warnings: Warnings, *, backoff: bool) -> None:
    """The keys no target carries, of the services ``names``: watching and reloading, and the stack's
    restart timing (``backoff``: whether the target maps restart_backoff and restart_backoff_max)."""
    target = warnings.target
    for name in names:
        svc = config.services[name]
        key = f"services.{name}"
        if svc.watch:
            warnings.add(f"{key}.watch", f"{target} does not restart a service when its files change: "
                                         "deploy the new version and restart it")
        if svc.ignore:
            warnings.add(f"{key}.ignore", f"{target} watches no files, so there is nothing to ignore")
        if svc.restart_dependents:
            warnings.add(f"{key}.restart_dependents", f"{target} does not restart dependents after a "
                                                      "restart: restart them yourself if they need it")
        if svc.reload == "overlap":
            warnings.add(f"{key}.reload", f"{target} has no overlapping reload: a restart stops the old "
                                          "instance before the new one starts")
    defaults, settings = Settings(), config.settings
    for key in ("debounce", "watch_polling"):
        if getattr(settings, key) != getattr(defaults, key):
            warnings.add(f"devstack.{key}", f"{target} watches no files: this setting has no effect there")
    names = ("restart_reset",) if backoff else ("restart_backoff", "restart_backoff_max", "restart_reset")
    for key in names:
        if getattr(settings, key) != getattr(defaults, key):
            warnings.add(f"devstack.{key}", f"{target} has restart delays of its own, which this setting "
                                            "cannot change")


def seconds(value: float, minimum: int = 1) -> int:
    """A duration in whole seconds, rounded up: what Kubernetes and systemd counters take."""
    return max(minimum, math.ceil(value - 1e-9))


def duration(value: float) -> str:
    """A duration as compose and systemd spell it: ``2s``, ``500ms``, ``1m30s`` stays ``90s``."""
    ms = round(value * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def probe_shell(check: HealthCheck, port: int, host: str = "127.0.0.1") -> str:
    """A shell command that exits 0 when an ``http`` or ``tcp`` check passes, with whichever of curl,
    wget, nc, bash or python3 the machine or image has."""
    if check.kind == "http":
        path = check.target if check.target.startswith("/") else f"/{check.target}"
        url = f"http://{host}:{port}{path}"
        t = seconds(check.timeout)
        return (f"curl -fsS -m {t} -o /dev/null '{url}' || wget -q -T {t} -O /dev/null '{url}' || "
                f"python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout={t})' "
                f"'{url}'")
    t = seconds(check.timeout)
    return (f"nc -z -w {t} {host} {port} || bash -c ': </dev/tcp/{host}/{port}' || "
            f"python3 -c 'import socket; socket.create_connection((\"{host}\", {port}), {t})'")


_STACK = re.compile(r"[^a-z0-9-]+")


def stack_name(config: Config) -> str:
    """The stack's name in the targets: its directory's name, as a DNS label (``my-app``)."""
    return _STACK.sub("-", config.root.name.lower()).strip("-")[:40].strip("-") or "devstack"


def header(target: str, config: Config, out_dir: Path, comment: str = "#") -> str:
    source = os.path.relpath(config.path, out_dir)
    return (f"{comment} Generated by devstack {__version__} (devstack export {target}) from {source}.\n"
            f"{comment} Do not edit: change {config.path.name} and export again.\n")


def is_generated(text: str) -> bool:
    """Whether a file was written by devstack export (and may be replaced or removed by the next)."""
    return "Generated by devstack " in text[:300] and "(devstack export " in text[:300]


def dump_yaml(*docs: object) -> str:
    """Block-style YAML in the order given (PyYAML quotes what YAML 1.1 would misread: "no", "1:2")."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True  # a value used twice is written twice, never as an &anchor and *alias

    return yaml.dump_all(docs, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=100_000,
                         allow_unicode=True, explicit_start=len(docs) > 1)
