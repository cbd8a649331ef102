"""How a service name appears in environment variable names: upper-cased, non-alphanumerics as ``_``
(``my-api`` -> ``MY_API_PORT``)."""

from __future__ import annotations

import re

__all__ = ("env_prefix",)


def env_prefix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()
