"""``devstack schema``: print the JSON Schema of devstack.toml (for editors, CI checks)."""

from __future__ import annotations

import argparse

from ..schema import schema_text

__all__ = ("schema",)


def schema(args: argparse.Namespace) -> int:
    print(schema_text(), end="")
    return 0
