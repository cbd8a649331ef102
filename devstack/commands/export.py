"""``devstack export compose|kubernetes|systemd``: write the stack as another engine's files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Config
from ..errors import DevstackError, UsageError
from ..export import export as build
from ..export import is_generated
from ..files import write_private
from ..project import Project
from .common import selected, shown

__all__ = ("export",)

DEFAULT_DIR = "export"  # under the project root: export/compose, export/kubernetes, export/systemd


def export(project: Project, args: argparse.Namespace) -> int:
    config = project.config
    out_dir: Path = args.output if args.output is not None else config.root / DEFAULT_DIR / args.target
    names = _profiled(config, args)
    result = build(config, args.target, out_dir, names)
    left_out = [n for n in config.services if n not in names]
    if left_out:
        print(f"devstack: not exported (in no active profile): {', '.join(left_out)}; --profile NAME "
              "exports a profile's services", file=sys.stderr)
    for line in result.warnings:
        print(f"devstack: warning: {line}", file=sys.stderr)
    if args.strict and result.warnings:
        n = len(result.warnings)
        print(f"devstack: {n} warning{'s' if n != 1 else ''} with --strict: nothing written", file=sys.stderr)
        return 1
    _write(out_dir, result.files)
    n = len(names)
    print(f"{shown(out_dir)}: {', '.join(result.files)} ({n} service{'s' if n != 1 else ''}, "
          f"{len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''})")
    return 0


def _profiled(config: Config, args: argparse.Namespace) -> list[str]:
    """compose carries profiles itself (docker compose --profile); the other targets get the services
    devstack up would start with the same profiles: those without any, those of an active profile, and
    what they depend on (in config order)."""
    if args.target == "compose":
        if args.profile:
            raise UsageError("compose files carry the profiles themselves: export without --profile and "
                             "choose them with docker compose --profile NAME up")
        return list(config.services)
    chosen = set(selected(config, [], args.profile))
    return [n for n in config.services if n in chosen]


def _write(out_dir: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``out_dir``. A file there that devstack export did not write is never
    replaced; one an earlier export of the same config wrote and this one does not is removed."""
    foreign = [name for name in files if (out_dir / name).exists() and not _generated(out_dir / name)]
    if foreign:
        raise DevstackError(f"{shown(out_dir / foreign[0])} exists and was not written by devstack "
                            "export: move it away, or export elsewhere with -o DIR")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        first_lines = {text.split("\n", 1)[0] for text in files.values()}
        for stale in sorted(out_dir.iterdir()):
            if stale.name not in files and stale.is_file() and _generated(stale) \
                    and _first_line(stale) in first_lines:
                stale.unlink()
        for name, text in files.items():
            write_private(out_dir / name, text)
    except OSError as exc:
        raise DevstackError(f"cannot write to {shown(out_dir)}: {exc.strerror}") from None


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.readline().rstrip("\n")
    except OSError:
        return ""


def _generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return is_generated(f.read(300))
    except OSError:
        return False
