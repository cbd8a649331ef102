"""How a service name appears in environment variable names: upper-cased, non-alphanumerics as ``_``
(``my-api`` -> ``MY_API_PORT``), and every variable devstack generates about a service from it: one
list, used both to set them and to check that no two services' variables meet (``devstack-x``'s
``DEVSTACK_X_PORT`` is also ``x``'s canonical copy)."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ("CANONICAL", "env_prefix", "generated_names", "port_variables")

CANONICAL = "DEVSTACK_"  # the canonical copies: DEVSTACK_API_PORT, DEVSTACK_API_URL


def env_prefix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def port_variables(name: str, key: str) -> list[tuple[str, bool]]:
    """The variables of port ``key`` ("port", or a named port) of service ``name``: (variable, is it the
    URL), plain and canonical: API_PORT, API_URL, DEVSTACK_API_PORT, DEVSTACK_API_URL."""
    prefix = env_prefix(name)
    label = prefix if key == "port" else f"{prefix}_{key.upper()}"
    return [(f"{p}{label}_{kind}", kind == "URL") for p in ("", CANONICAL) for kind in ("PORT", "URL")]


def generated_names(name: str, port_keys: Iterable[str]) -> list[str]:
    """Every variable devstack sets in every service's environment about service ``name`` (none for a
    service without ports)."""
    keys = list(port_keys)
    host = [f"{env_prefix(name)}_HOST"] if keys else []
    return [*host, *(var for key in keys for var, _ in port_variables(name, key))]
