"""``devstack export``: the stack as the files another engine runs it from, so that it can leave the
laptop without a second description of it.

    plan.py        what the targets share: ports, addresses, environment, probes, warnings, header
    compose.py     docker compose: compose.yaml
    kubernetes.py  Kubernetes: Deployments, Jobs, Services, ConfigMaps in one multi-document YAML
    systemd.py     systemd user units: a .service per service, a .socket, a .target for the stack

Every target reads the typed config (``devstack.config.model``) only. What a target cannot carry is
never dropped silently: each such key gives one warning, naming it and what to do instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from .plan import Warnings, is_generated

__all__ = ("TARGETS", "Export", "export", "is_generated")

TARGETS = {"compose": "compose", "kubernetes": "Kubernetes", "systemd": "systemd"}  # -> as said


@dataclass(frozen=True)
class Export:
    files: dict[str, str]  # file name (in the output directory) -> text
    warnings: list[str]


def export(config: Config, target: str, out_dir: Path, names: Sequence[str] | None = None) -> Export:
    """The files of ``target`` for the services ``names`` of ``config`` (default: all), as they would be
    written to ``out_dir`` (relative paths in them are relative to it), and the warnings; nothing is
    written here. Every service of ``config`` has its port and address, exported or not."""
    module = importlib.import_module(f"devstack.export.{target}")
    render: Callable[[Config, Sequence[str], Path, Warnings], dict[str, str]] = module.render
    warnings = Warnings(TARGETS[target])
    files = render(config, list(config.services) if names is None else list(names), out_dir.resolve(),
                   warnings)
    order = {name: i for i, name in enumerate(config.services)}

    def by_service(line: str) -> int:  # each service's warnings together, in config order; then [devstack]
        parts = line.split(":", 1)[0].split(".")
        return order.get(parts[1], len(order)) if parts[0] == "services" and len(parts) > 1 else len(order)

    return Export(files, sorted(warnings.lines, key=by_service))
