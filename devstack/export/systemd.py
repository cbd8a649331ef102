"""``devstack export systemd``: user units for a shared development box.

Per service ``STACK-NAME.service`` and ``STACK-NAME.env`` (its generated environment, with the ports);
``STACK-NAME.socket`` for a ``socket = true`` service (systemd passes the socket exactly as devstack
does: fd 3, ``LISTEN_FDS``, ``LISTEN_PID``, ``LISTEN_FDNAMES``); and ``STACK.target``, which wants
them all. ``systemctl --user start STACK.target`` starts the stack, ``stop`` stops it.

Order and readiness: ``depends_on`` becomes ``After=`` and ``Requires=``. A service with a health
check is not "started" for systemd until an ``ExecStartPost=`` loop has seen the check pass, so
``After=`` waits for healthy; a one-shot task is ``Type=oneshot`` (``RemainAfterExit=yes``), so
``After=`` waits for it to complete and ``Requires=`` fails its dependents when it fails.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Sequence
from pathlib import Path

from ..config import Config, HealthCheck, Service, Settings
from ..environment import LOCAL, render_argv
from ..ports.activation import BACKLOG, simple_command
from .plan import (
    Warnings,
    duration,
    exported_env,
    header,
    one_shot,
    plan_ports,
    probe_shell,
    stack_name,
    unset_losses,
)

__all__ = ("render",)

_RESTART = {"no": "no", "on-failure": "on-failure", "always": "always"}


def _specifiers(text: str) -> str:
    return text.replace("%", "%%")


def _quote(arg: str) -> str:
    """One argument of an ``Exec*=`` line: systemd expands ``$VAR`` and ``%x`` there, and splits on
    whitespace unless quoted (C-style escapes inside double quotes)."""
    arg = _specifiers(arg).replace("$", "$$")
    if arg and not re.search(r"[\s\"'\\;]", arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _env_value(value: str) -> str:
    """A value for an ``EnvironmentFile=``: single-quoted (verbatim), or double-quoted with escapes."""
    if "'" not in value:
        return f"'{value}'"
    escaped = re.sub(r'([\\"`$])', r"\\\1", value)
    return f'"{escaped}"'


def render(config: Config, names: Sequence[str], out_dir: Path, warnings: Warnings) -> dict[str, str]:
    stack = stack_name(config)
    ports = plan_ports(config)
    tasks = one_shot(config)
    top = header("systemd", config, out_dir)
    files: dict[str, str] = {}
    wants: list[str] = []
    for name in names:
        svc = config.services[name]
        unit = f"{stack}-{name}"
        env = exported_env(config, svc, ports, LOCAL, warnings)
        files[f"{unit}.env"] = top + "".join(f"{k}={_env_value(v)}\n" for k, v in env.items())
        files[f"{unit}.service"] = top + _service(config, svc, stack, ports, out_dir, name in tasks, warnings)
        wants.append(f"{unit}.service")
        if svc.socket:
            files[f"{unit}.socket"] = top + _socket(svc, stack, ports[name]["port"])
            wants.append(f"{unit}.socket")
        if svc.image:
            warnings.add(f"services.{name}.image", "systemd runs cmd on this machine: the image is not used")
    files[f"{stack}.target"] = top + (
        f"[Unit]\nDescription=The devstack stack {stack}\nWants={' '.join(wants)}\n\n"
        "[Install]\nWantedBy=default.target\n")
    unset_losses(config, names, warnings, backoff=True)
    return files


def _service(config: Config, svc: Service, stack: str, ports: dict[str, dict[str, int]], out_dir: Path,
             task: bool, warnings: Warnings) -> str:
    key = f"services.{svc.name}"
    unit = [f"Description=devstack service {svc.name} of the stack {stack}", f"PartOf={stack}.target"]
    needs = [f"{stack}-{d.name}.service" for d in svc.depends_on]
    if svc.socket:
        needs.append(f"{stack}-{svc.name}.socket")
    if needs:
        unit += [f"After={' '.join(needs)}", f"Requires={' '.join(needs)}"]
    if svc.max_restarts is not None:
        unit += ["StartLimitIntervalSec=infinity", f"StartLimitBurst={svc.max_restarts + 1}"]
    body = [f"Type={'oneshot' if task else 'exec'}"]
    if task:
        body.append("RemainAfterExit=yes")
    body.append(f"WorkingDirectory={_specifiers(str(svc.cwd))}")
    for path in (*svc.env_files, out_dir / f"{stack}-{svc.name}.env"):
        body.append(f"EnvironmentFile={_specifiers(str(path))}")
    body.append("ExecStart=" + " ".join(_quote(a) for a in _argv(config, svc, ports)))
    wait = _ready(svc.health, ports[svc.name])
    if wait and not task:
        body.append("ExecStartPost=" + " ".join(_quote(a) for a in wait))
        check = svc.health
        body.append(f"TimeoutStartSec={duration(check.start_period + check.retries * check.interval)}")
    restart = svc.restart
    if task and restart == "always":
        warnings.add(f"{key}.restart", 'systemd restarts a one-shot task only on failure: exported as '
                                       '"on-failure"')
        restart = "on-failure"
    body.append(f"Restart={_RESTART[restart]}")
    body += _backoff(config.settings)
    if svc.stop_signal != signal.SIGTERM:
        body.append(f"KillSignal={svc.stop_signal.name}")
    body.append(f"TimeoutStopSec={duration(svc.stop_timeout)}")
    return "[Unit]\n" + "\n".join(unit) + "\n\n[Service]\n" + "\n".join(body) + "\n"


def _argv(config: Config, svc: Service, ports: dict[str, dict[str, int]]) -> list[str]:
    argv = render_argv(config, ports, svc, LOCAL)
    # systemd sets LISTEN_PID to the main process: a one-command string is exec'ed by its shell
    if svc.socket and isinstance(svc.cmd, str) and simple_command(argv[2]):
        argv[2] = "exec " + argv[2]
    return argv


def _ready(check: HealthCheck, own: dict[str, int]) -> list[str] | None:
    """The ``ExecStartPost=`` that waits until the health check passes (the unit is started then)."""
    if check.kind == "started":
        return None
    probe = check.target if check.kind == "cmd" else probe_shell(check, own[check.port or "port"])
    pause = f"{check.start_interval:g}"
    return ["/bin/sh", "-c", f"until {{ {probe}; }} >/dev/null 2>&1; do sleep {pause}; done"]


def _backoff(settings: Settings) -> list[str]:
    """devstack's doubling delay: from restart_backoff to restart_backoff_max, in steps that double
    (RestartSteps= and RestartMaxDelaySec=, systemd 254 and later; older ones keep RestartSec=)."""
    low, high = settings.restart_backoff, settings.restart_backoff_max
    lines = [f"RestartSec={duration(low)}"]
    if high > low > 0:
        lines += [f"RestartSteps={math.ceil(math.log2(high / low))}", f"RestartMaxDelaySec={duration(high)}"]
    return lines


def _socket(svc: Service, stack: str, port: int) -> str:
    return (f"[Unit]\nDescription=The socket of devstack service {svc.name} of the stack {stack}\n"
            f"PartOf={stack}.target\n\n"
            f"[Socket]\nListenStream=127.0.0.1:{port}\nFileDescriptorName={svc.name}\nBacklog={BACKLOG}\n")
