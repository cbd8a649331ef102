"""``devstack export kubernetes``: one multi-document YAML with, per devstack service, a ConfigMap of
its environment and a Deployment (a Job for a service with ``restart = "no"`` that nothing waits
for), and a Service for each one with ports; peers are reached by Service name (``db:20000``).

Order. Pods start together, so each pod waits for what its service depends on in init containers, in
dependency order: a wait (busybox ``nc``) until each dependency's Service accepts a connection (a
Service sends connections only to ready pods: its readiness probe, from ``health``), then each
one-shot task it waits for with ``completed_successfully`` (a migration), run as an init container
itself, after the waits of the task's own dependencies. A task thus runs once per start of each pod
that needs it: keep it idempotent, as migrations are.
"""

from __future__ import annotations

import math
import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Config, Service
from ..environment import Addressing, render_argv
from ..errors import DevstackError
from .plan import (
    Warnings,
    dump_yaml,
    exported_env,
    header,
    one_shot,
    peers_by_name,
    plan_ports,
    seconds,
    stack_name,
    unset_losses,
)

__all__ = ("FILE", "MOUNT", "WAIT_IMAGE", "k8s_name", "render")

FILE = "kubernetes.yaml"
MOUNT = "/project"  # where the image holds the project (compose mounts the checkout there)
WAIT_IMAGE = "busybox:1.36"
_NAME = re.compile(r"[^a-z0-9-]+")


def k8s_name(name: str) -> str:
    """A DNS-1035 label (what a Service name must be): lower case, digits and -, a letter first."""
    out = _NAME.sub("-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = f"s-{out}"
    return out[:63].rstrip("-")


def _port_name(key: str) -> str:
    out = re.sub(r"-+", "-", key.replace("_", "-"))[:15].strip("-")
    return out or "port"


def _escape(text: str) -> str:
    """Kubernetes expands ``$(VAR)`` in command and args; ``$$`` is a literal ``$``."""
    return text.replace("$", "$$")


def render(config: Config, selected: Sequence[str], out_dir: Path, warnings: Warnings) -> dict[str, str]:
    names = {n: k8s_name(n) for n in config.services}
    seen: dict[str, str] = {}
    for name, k8s in names.items():
        if k8s in seen:
            raise DevstackError(f"services {seen[k8s]!r} and {name!r} both become {k8s!r} in Kubernetes, "
                                "whose names are lower-case letters, digits and -: rename one")
        seen[k8s] = name
        if k8s != name and name in selected:
            warnings.add(f"services.{name}", f"Kubernetes names are lower-case letters, digits and -: "
                                             f"exported as {k8s}")
    ctx = _Context(config, names, warnings)
    docs: list[dict[str, Any]] = []
    tasks = one_shot(config)
    for name in selected:
        svc = ctx.services[name]
        docs.append(ctx.config_map(svc))
        if name in tasks:
            continue  # an init container of each service that waits for it
        if svc.restart == "no":
            docs.append(ctx.job(svc))
        else:
            docs.append(ctx.deployment(svc))
        if ctx.ports[name]:
            docs.append(ctx.service(svc))
    unset_losses(config, selected, warnings, backoff=False)
    return {FILE: header("kubernetes", config, out_dir) + dump_yaml(*docs)}


class _Context:
    def __init__(self, config: Config, names: dict[str, str], warnings: Warnings) -> None:
        self.config = config
        self.names = names
        self.warnings = warnings
        self.ports = plan_ports(config)
        self.stack = stack_name(config)
        self.tasks = one_shot(config)
        self.addressing = Addressing(bind="0.0.0.0", hosts=names, keep_unknown=True)
        self.services = {n: peers_by_name(s) for n, s in config.services.items()}

    def labels(self, svc: Service) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.names[svc.name], "app.kubernetes.io/part-of": self.stack}

    def metadata(self, svc: Service, suffix: str = "") -> dict[str, Any]:
        return {"name": self.names[svc.name] + suffix, "labels": self.labels(svc)}

    def config_map(self, svc: Service) -> dict[str, Any]:
        env = exported_env(self.config, svc, self.ports, self.addressing, self.warnings)
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.metadata(svc, "-env"), "data": env}

    def service(self, svc: Service) -> dict[str, Any]:
        ports = [{"name": _port_name(key), "port": port, "targetPort": port}
                 for key, port in self.ports[svc.name].items()]
        return {"apiVersion": "v1", "kind": "Service", "metadata": self.metadata(svc),
                "spec": {"selector": self.labels(svc), "ports": ports}}

    def deployment(self, svc: Service) -> dict[str, Any]:
        key = f"services.{svc.name}"
        if svc.max_restarts is not None:
            self.warnings.add(f"{key}.max_restarts", "a Deployment restarts its pod without limit: "
                                                     f"max_restarts = {svc.max_restarts} is not kept")
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self.metadata(svc),
                "spec": {"replicas": 1, "selector": {"matchLabels": self.labels(svc)},
                         "template": {"metadata": {"labels": self.labels(svc)},
                                      "spec": self.pod(svc, probes=True)}}}

    def job(self, svc: Service) -> dict[str, Any]:
        pod = self.pod(svc, probes=False)
        pod["restartPolicy"] = "Never"
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": self.metadata(svc),
                "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": self.labels(svc)},
                                                         "spec": pod}}}

    def pod(self, svc: Service, *, probes: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        init = self.init_containers(svc)
        if init:
            spec["initContainers"] = init
        spec["containers"] = [self.container(svc, probes=probes)]
        spec["terminationGracePeriodSeconds"] = seconds(svc.stop_timeout)
        return spec

    def container(self, svc: Service, *, probes: bool) -> dict[str, Any]:
        key = f"services.{svc.name}"
        name = self.names[svc.name]
        if not svc.image:
            self.warnings.add(key, f"no image: Kubernetes runs images only; set image = \"...\" (an image "
                                   f"holding the project at {MOUNT}, with the tools its cmd needs); "
                                   f"exported as image {name}")
        if svc.socket:
            self.warnings.add(f"{key}.socket", "Kubernetes cannot hand a listening socket to a container: "
                                               "make cmd bind 0.0.0.0:$PORT itself")
        if svc.stop_signal != signal.SIGTERM:
            self.warnings.add(f"{key}.stop_signal", f"Kubernetes stops a container with SIGTERM, not "
                                                    f"{svc.stop_signal.name}: make the service stop on "
                                                    "SIGTERM (or STOPSIGNAL in its image)")
        rel = os.path.relpath(svc.cwd, self.config.root)
        out: dict[str, Any] = {
            "name": name, "image": svc.image or name,
            "command": [_escape(a) for a in render_argv(self.config, self.ports, svc, self.addressing)],
            "workingDir": MOUNT if rel == "." else f"{MOUNT}/{Path(rel).as_posix()}",
        }
        env_from: list[dict[str, Any]] = []
        if svc.env_files:
            secret = f"{name}-env-file"
            files = " ".join(f"--from-env-file={os.path.relpath(p, self.config.root)}" for p in svc.env_files)
            self.warnings.add(f"{key}.env_file", f"the values of env files are not written into the "
                                                 f"manifests: create the Secret {secret} from them "
                                                 f"(kubectl create secret generic {secret} {files})")
            env_from.append({"secretRef": {"name": secret}})
        env_from.append({"configMapRef": {"name": f"{name}-env"}})
        out["envFrom"] = env_from
        own = self.ports[svc.name]
        if own:
            out["ports"] = [{"name": _port_name(k), "containerPort": p} for k, p in own.items()]
        if probes:
            out.update(self.probes(svc))
        return out

    def probes(self, svc: Service) -> dict[str, Any]:
        check = svc.health
        if check.kind == "started":
            return {}
        action: dict[str, Any]
        if check.kind == "cmd":
            action = {"exec": {"command": ["/bin/sh", "-c", check.target]}}
        else:
            port = self.ports[svc.name][check.port or "port"]
            action = {"httpGet": {"path": check.target, "port": port}} if check.kind == "http" \
                else {"tcpSocket": {"port": port}}
        timeout = seconds(check.timeout)
        steady = {**action, "periodSeconds": seconds(check.interval), "timeoutSeconds": timeout,
                  "failureThreshold": check.retries}
        period = seconds(check.start_interval)
        startup = {**action, "periodSeconds": period, "timeoutSeconds": timeout,
                   "failureThreshold": math.ceil(check.start_period / period) + check.retries}
        out = {"startupProbe": startup, "readinessProbe": steady}
        if svc.restart != "no":  # devstack restarts a service that turns unhealthy, as liveness does
            out["livenessProbe"] = steady
        return out

    def init_containers(self, svc: Service) -> list[dict[str, Any]]:
        steps: dict[str, dict[str, Any]] = {}
        self._needs(svc, steps, seen=set())
        return list(steps.values())

    def _needs(self, svc: Service, steps: dict[str, dict[str, Any]], seen: set[str]) -> None:
        for dep in svc.depends_on:
            target = self.services[dep.name]
            if dep.name in self.tasks:
                if dep.name in seen:
                    continue
                seen.add(dep.name)
                self._needs(target, steps, seen)
                steps.setdefault(f"run:{dep.name}", self.container(target, probes=False))
                continue
            own = self.ports[dep.name]
            if not own:
                self.warnings.add(f"services.{svc.name}.depends_on.{dep.name}",
                                  f"{dep.name} has no port to wait for, and Kubernetes starts pods "
                                  "together: this order is not kept")
                continue
            probed = target.health.port or ("port" if "port" in own else next(iter(own)))
            host, port = self.names[dep.name], own[probed]
            steps.setdefault(f"wait:{dep.name}", {
                "name": f"wait-for-{host}"[:63].rstrip("-"), "image": WAIT_IMAGE,
                "command": ["sh", "-c", f"until nc -z -w 2 {host} {port}; do echo waiting for {host}; "
                                        "sleep 1; done"]})
