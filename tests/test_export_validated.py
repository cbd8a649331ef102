"""Every shipped devstack.toml (the repository's own and each example's), exported to each target and
judged by that target's own tools: docker-compose and the compose-spec schema, kubernetes-validate,
systemd-analyze. A tool that is not installed skips its test, saying so (scripts/install-test-deps)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import validators
from helpers.stack import run_devstack

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted([REPO / "devstack.toml", *REPO.glob("examples/*/devstack.toml"),
                  *REPO.glob("examples/*/*/devstack.toml")])
IDS = [str(p.relative_to(REPO).parent) for p in SHIPPED]


def export(config: Path, target: str, out: Path) -> list[Path]:
    result = run_devstack(["-f", str(config), "export", target, "-o", str(out)], out.parent)
    assert result.returncode == 0, result.stderr
    return sorted(out.iterdir())


def test_every_example_is_exported() -> None:
    assert REPO / "devstack.toml" in SHIPPED
    assert {p.parent.name for p in SHIPPED} >= {"postgres", "redis", "vite", "uvicorn", "gunicorn", "stdlib"}


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_compose_file_passes_docker_compose_and_the_compose_spec(config: Path, tmp_path: Path) -> None:
    (path,) = export(config, "compose", tmp_path / "out")
    assert validators.compose_schema(path) == []
    assert validators.compose_config(path) == []


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_kubernetes_manifests_pass_kubernetes_validate(config: Path, tmp_path: Path) -> None:
    (path,) = export(config, "kubernetes", tmp_path / "out")
    assert validators.kubernetes(path) == []


@pytest.mark.parametrize("config", SHIPPED, ids=IDS)
def test_systemd_units_pass_systemd_analyze_verify(config: Path, tmp_path: Path) -> None:
    files = export(config, "systemd", tmp_path / "out")
    units = [p for p in files if p.suffix in (".service", ".socket", ".target")]
    assert validators.systemd_verify(units) == []
