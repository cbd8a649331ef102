"""The real tools that judge what ``devstack export`` writes, each a function that returns the
tool's complaints (an empty list: valid) or skips the test, saying why, when the tool is missing.
``bash scripts/install-test-deps`` installs them all.

    compose_config      ``docker-compose config`` (Debian's docker-compose; no daemon needed)
    compose_schema      the compose-spec JSON Schema that docker-compose ships
    kubernetes          ``kubernetes-validate --strict`` (PyPI; its API schemas are offline)
    systemd_verify      ``systemd-analyze --user verify``
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ("compose_config", "compose_schema", "kubernetes", "systemd_verify")

INSTALL = "bash scripts/install-test-deps"
# Debian's docker-compose package ships the compose-spec schema it validates with
COMPOSE_SPECS = ("/usr/lib/python3/dist-packages/compose/config/compose_spec.json",)
# systemd 254 added these two; an older systemd-analyze ignores them, and says so
NEWER_SYSTEMD_KEYS = ("RestartSteps", "RestartMaxDelaySec")


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def compose_config(path: Path) -> list[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip(f"docker-compose not installed ({INSTALL}: apt-get install docker-compose)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    out = _run([tool, "-f", path.name, "config", "-q"], path.parent, env)
    complaints = [line for line in out.stderr.splitlines() if line.strip()]
    if out.returncode != 0 and not complaints:
        complaints = [f"exit code {out.returncode}"]
    return complaints


def compose_schema(path: Path) -> list[str]:
    spec = next((Path(p) for p in COMPOSE_SPECS if Path(p).is_file()), None)
    if spec is None:
        pytest.skip(f"the compose-spec schema is shipped by docker-compose, not installed ({INSTALL})")
    from jsonschema import Draft201909Validator

    schema: dict[str, Any] = json.loads(spec.read_text())
    document = yaml.safe_load(path.read_text())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft201909Validator(schema).iter_errors(document)]


def kubernetes(path: Path) -> list[str]:
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        pytest.skip(f"kubernetes-validate not installed ({INSTALL}: pip install kubernetes-validate)")
    out = _run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", path.name], path.parent)
    complaints = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    if out.returncode != 0 and not complaints:
        complaints = [f"exit code {out.returncode}"]
    return complaints


def systemd_verify(units: list[Path]) -> list[str]:
    """``--user verify`` needs a runtime directory for the user manager it pretends to be: a private
    temporary one here (a container with no systemd running has no /run/user/UID)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip(f"systemd-analyze not installed ({INSTALL}: apt-get install systemd)")
    version = _systemd_version(tool)
    with tempfile.TemporaryDirectory() as runtime:
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "SYSTEMD_LOG_COLOR": "0"}
        out = _run([tool, "--user", "--man=no", "verify", *map(str, units)], units[0].parent, env)
    complaints = []
    for line in (out.stdout + out.stderr).splitlines():
        newer = re.search(r"Unknown key '(\w+)'", line)
        if not line.strip() or (newer and newer.group(1) in NEWER_SYSTEMD_KEYS and version < 254):
            continue
        complaints.append(line)
    if out.returncode != 0 and not complaints:
        complaints = [f"exit code {out.returncode}"]
    return complaints


def _systemd_version(tool: str) -> int:
    out = _run([tool, "--version"], Path("/"))
    m = re.match(r"systemd (\d+)", out.stdout)
    return int(m.group(1)) if m else 0
