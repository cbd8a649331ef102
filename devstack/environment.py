"""The environment each service is started with.

Precedence, highest first: the service's own ``env``, the values devstack generates, its env files, the
environment devstack itself inherited. ``HOSTNAME`` is never set: shells and tools read it as the
machine's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .config import Service
from .tree import RUN_VAR, SERVICE_VAR

__all__ = ("generated_env", "service_env")


def generated_env(service: Service, run_token: str) -> dict[str, str]:
    return {
        SERVICE_VAR: service.name,
        RUN_VAR: run_token,
        "PYTHONUNBUFFERED": "1",
    }


def service_env(service: Service, run_token: str,
                inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if inherited is None else inherited)
    env.update(service.file_env)
    env.update(generated_env(service, run_token))
    env.update(service.env)
    # the markers that find a service's processes are not the user's to override
    env[SERVICE_VAR] = service.name
    env[RUN_VAR] = run_token
    return env
