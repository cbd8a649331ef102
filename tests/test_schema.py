"""The config model, its JSON Schema (devstack/schema.json) and the README's configuration reference
say the same thing: the same keys, each described; every shipped devstack.toml is valid; and on a set of
sample configs the schema and the loader accept and refuse alike."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from helpers.stack import run_devstack
from jsonschema import Draft202012Validator

from devstack.config import load_config
from devstack.config.loader import HEALTH_KEYS, SERVICE_KEYS, SETTINGS_KEYS, TOP_KEYS
from devstack.errors import ConfigError
from devstack.schema import load_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema()
VALIDATOR = Draft202012Validator(SCHEMA)
TABLES = {  # where each key table lives in the schema, and in the README's reference
    "services": (SCHEMA["$defs"]["service"], SERVICE_KEYS, "### `[services.NAME]`"),
    "health": (SCHEMA["$defs"]["health"], HEALTH_KEYS, "### `[services.NAME.health]`"),
    "devstack": (SCHEMA["$defs"]["settings"], SETTINGS_KEYS, "### `[devstack]`"),
}
SHIPPED = sorted([REPO / "devstack.toml", *REPO.glob("examples/*/devstack.toml"),
                  *REPO.glob("examples/socket/*/devstack.toml")])


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("table", TABLES)
def test_schema_keys_are_the_loaders_keys_each_described(table: str) -> None:
    schema, keys, _ = TABLES[table]
    assert list(schema["properties"]) == list(keys), "the schema's keys, in the loader's order"
    assert schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert len(prop.get("description", "")) > 10, f"{table}.{name} has no description"
    assert set(SCHEMA["properties"]) == set(TOP_KEYS)
    assert all(p.get("description") for p in SCHEMA["properties"].values())


def reference_keys(heading: str) -> list[str]:
    """The keys in the first column of the README table under ``heading`` (in the reference)."""
    readme = (REPO / "README.md").read_text()
    reference = readme.split("\n## Configuration reference\n", 1)[1].split("\n## ", 1)[0]
    assert heading in reference, f"the README's configuration reference has no {heading} section"
    section = reference.split(heading, 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)


@pytest.mark.parametrize("table", TABLES)
def test_the_readme_reference_documents_every_key_the_loader_accepts(table: str) -> None:
    _, keys, heading = TABLES[table]
    documented = reference_keys(heading)
    assert sorted(set(keys) - set(documented)) == [], f"accepted but not in the README's {heading}"
    assert sorted(set(documented) - set(keys)) == [], f"in the README's {heading} but not accepted"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_is_valid_for_the_schema_and_the_loader(path: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(tomllib.loads(path.read_text()))]
    assert errors == []
    load_config(path)


def test_the_examples_are_all_checked() -> None:
    assert REPO / "devstack.toml" in SHIPPED
    assert {p.parent.name for p in SHIPPED} >= {"postgres", "redis", "vite", "uvicorn"}


SAMPLES: list[tuple[dict[str, Any], bool]] = [
    ({"services": {"a": {"cmd": "x"}}}, True),
    ({"services": {"a": {"cmd": ["x", "y"], "port": 8000, "ports": {"admin": True, "m": 9001},
                         "stop_signal": "INT", "stop_timeout": "1m30s", "scheme": "postgresql",
                         "env": {"A": 1, "B": True, "C": "${PORT}"}, "watch": False, "ignore": "*.log",
                         "restart": "always", "max_restarts": 0, "restart_dependents": True,
                         "health": {"tcp": True, "interval": 0.5, "retries": 2, "start_period": "2s"}},
                   "b": {"cmd": "y", "port": False, "health": False,
                         "depends_on": {"a": "service_healthy",
                                        "c": {"condition": "completed_successfully"}}},
                   "c": {"cmd": "z", "ports": ["metrics"], "health": {"http": "/", "port": "metrics"},
                         "depends_on": "a"}},
      "devstack": {"port_range": "10000-10999", "debounce": "50ms", "watch_polling": True,
                   "restart_backoff": 1, "restart_backoff_max": "1m", "restart_reset": "10s"}}, True),
    ({"services": {"a": {"cmd": "x", "image": "postgres:16"},
                   "b": {"cmd": "y", "image": "localhost:5000/acme/api_v2:1.2-rc1"},
                   "c": {"cmd": "z", "image": "ghcr.io/acme/api@sha256:" + "0" * 64}}}, True),
    ({"services": {"a": {"cmd": "x", "image": "Postgres"}}}, False),
    ({"services": {"a": {"cmd": "x", "image": "postgres:"}}}, False),
    ({"services": {"a": {"cmd": "x", "image": ""}}}, False),
    ({"services": {"a": {"cmd": "x", "image": 16}}}, False),
    ({"services": {}}, False),
    ({"devstack": {}}, False),
    ({"services": {"a": {"cmd": "x"}}, "extra": 1}, False),
    ({"services": {"a": {"cmd": "x", "comand": "y"}}}, False),
    ({"services": {"a": {}}}, False),
    ({"services": {"a": {"cmd": ""}}}, False),
    ({"services": {"a": {"cmd": []}}}, False),
    ({"services": {"-a": {"cmd": "x"}}}, False),
    ({"services": {"devstack": {"cmd": "x"}}}, False),
    ({"services": {"a": {"cmd": "x", "port": 0}}}, False),
    ({"services": {"a": {"cmd": "x", "ports": ["port"]}}}, False),
    ({"services": {"a": {"cmd": "x", "ports": {"admin": False}}}}, False),
    ({"services": {"a": {"cmd": "x", "stop_timeout": "5x"}}}, False),
    ({"services": {"a": {"cmd": "x", "stop_timeout": -1}}}, False),
    ({"services": {"a": {"cmd": "x", "stop_signal": "SIGKILL"}}}, False),
    ({"services": {"a": {"cmd": "x", "restart": "sometimes"}}}, False),
    ({"services": {"a": {"cmd": "x", "env": {"1X": "y"}}}}, False),
    ({"services": {"a": {"cmd": "x", "scheme": "Not A Scheme"}}}, False),
    ({"services": {"a": {"cmd": "x", "health": True}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {}}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {"http": "/", "tcp": True}}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {"tcp": False}}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {"http": "healthz"}}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {"cmd": "true", "retries": 0}}}}, False),
    ({"services": {"a": {"cmd": "x", "health": {"cmd": "true", "intervall": 1}}}}, False),
    ({"services": {"a": {"cmd": "x", "depends_on": {"b": "ready"}}}, "b": {"cmd": "y"}}, False),
    ({"services": {"a": {"cmd": "x", "max_restarts": -1}}}, False),
    ({"services": {"a": {"cmd": "x"}}, "devstack": {"port_range": [40000]}}, False),
    ({"services": {"a": {"cmd": "x"}}, "devstack": {"port_range": [80, 90]}}, False),
    ({"services": {"a": {"cmd": "x"}}, "devstack": {"watch_polling": "yes"}}, False),
]


@pytest.mark.parametrize(("config", "valid"), SAMPLES, ids=[str(i) for i in range(len(SAMPLES))])
def test_schema_and_loader_agree(tmp_path: Path, config: dict[str, Any], valid: bool) -> None:
    by_schema = VALIDATOR.is_valid(config)
    path = tmp_path / "devstack.toml"
    path.write_text(tomli_w.dumps(config))
    try:
        load_config(path)
        by_loader = True
    except ConfigError:
        by_loader = False
    assert (by_schema, by_loader) == (valid, valid)


def test_devstack_schema_prints_the_shipped_schema_anywhere(tmp_path: Path) -> None:
    out = run_devstack(["schema"], tmp_path)  # no devstack.toml here, none needed
    assert out.returncode == 0, out
    assert json.loads(out.stdout) == json.loads((REPO / "devstack" / "schema.json").read_text())
