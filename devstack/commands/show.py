"""``devstack config``: the configuration as devstack runs it, devstack.local.toml merged over
devstack.toml, checked first, as TOML or (``--json``) JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

import tomli_w

from ..config.loader import read_sources
from ..config.overlay import merge
from ..project import Project
from .common import shown

__all__ = ("config",)


def config(project: Project, args: argparse.Namespace) -> int:
    checked = project.config  # every problem first, each in its file, at its line
    if checked.path.suffix != ".toml":  # a Procfile: nothing to merge, the services as read
        data: dict[str, Any] = {"services": {n: {"cmd": s.cmd} for n, s in checked.services.items()}}
    else:
        data = {}
        for source in read_sources(checked.path):
            data = merge(data, source.data)
    services = data.get("services", {})
    off = list(checked.disabled)
    data["services"] = {n: {k: v for k, v in raw.items() if k != "enabled"}
                        for n, raw in services.items() if n not in off}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    files = " + ".join(shown(p) for p in (checked.path, *checked.overrides))
    header = f"# the configuration devstack runs: {files}\n"
    if off:
        header += f"# switched off (enabled = false): {', '.join(off)}\n"
    print(header + "\n" + tomli_w.dumps(data), end="")
    return 0
