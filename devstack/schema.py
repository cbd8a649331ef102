"""The JSON Schema (draft 2020-12) of devstack.toml, shipped beside this module as ``schema.json``.

Editors use it for completion and checks (Even Better TOML / taplo: a ``#:schema`` line at the top of
devstack.toml); ``devstack schema`` prints it. The loader stays the judge: the schema describes the
same keys (a test holds them together) but cannot say everything the loader checks (that a ``cwd``
exists, that ``depends_on`` names a service, that there is no cycle).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ("load_schema", "schema_text")


def schema_text() -> str:
    return files("devstack").joinpath("schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema
