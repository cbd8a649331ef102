"""Profiles (docker compose's): which services ``devstack up`` starts, their dependencies pulled in,
``devstack start`` of a service left out, and a profile nobody has."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.stack import Stack, clean_env, run_devstack, write_config

SLEEP = "sleep 60"


def stack(project: Path) -> None:
    write_config(project, {
        "api": {"cmd": SLEEP, "port": False},
        "db": {"cmd": SLEEP, "port": False, "profiles": ["storage"]},
        "debugger": {"cmd": SLEEP, "port": False, "profiles": ["debug"], "depends_on": ["db"]},
        "docs": {"cmd": SLEEP, "port": False, "profiles": ["full", "debug"]},
    })


def running(project: Path) -> list[str]:
    out = run_devstack(["status", "--json"], project)
    assert out.returncode == 0, out.stderr
    return sorted(s["name"] for s in json.loads(out.stdout)["services"] if s["state"] == "running")


def up(project: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """The services a detached ``devstack up ARGS`` runs; the stack is stopped again."""
    out = run_devstack(["up", "-d", *args], project, env=env)
    try:
        assert out.returncode == 0, out.stdout + out.stderr
        return running(project)
    finally:
        run_devstack(["down"], project)


def test_only_services_without_profiles_or_with_an_active_one_start(project: Path) -> None:
    stack(project)
    assert up(project) == ["api"]
    # debugger's dependency db comes with it, although db's own profile is not active
    assert up(project, "--profile", "debug") == ["api", "db", "debugger", "docs"]
    assert up(project, "--profile", "full", "--profile", "storage") == ["api", "db", "docs"]
    assert up(project, env=clean_env(DEVSTACK_PROFILES="full, storage")) == ["api", "db", "docs"]
    # --profile wins over the environment
    assert up(project, "--profile", "storage", env=clean_env(DEVSTACK_PROFILES="full")) == ["api", "db"]
    assert up(project, "--profile", "*") == ["api", "db", "debugger", "docs"]


def test_a_named_service_starts_whatever_its_profiles_with_its_dependencies(project: Path) -> None:
    stack(project)
    assert up(project, "debugger") == ["db", "debugger"]


def test_start_of_a_left_out_service_on_a_running_stack(project: Path) -> None:
    stack(project)
    with Stack(project, "up") as s:
        s.started("api")
        out = run_devstack(["start", "debugger"], project)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "started: db, debugger"
        s.started("db", "debugger")
        assert running(project) == ["api", "db", "debugger"]


def test_an_unknown_profile_is_an_error_listing_the_known_ones(project: Path) -> None:
    stack(project)
    for args, env in ((["--profile", "debgu"], None), ([], clean_env(DEVSTACK_PROFILES="debgu"))):
        out = run_devstack(["up", *args], project, env=env)
        assert out.returncode == 2, out.stderr
        source = "--profile" if args else "DEVSTACK_PROFILES"
        assert out.stderr.strip() == (f'devstack: unknown profile "debgu" ({source}); profiles in '
                                      "devstack.toml: debug, full, storage")
    out = run_devstack(["up", "-d", "--profile", "nope"], project)
    assert out.returncode == 2 and 'unknown profile "nope"' in out.stderr
    assert not (project / ".devstack" / "run.json").exists()


def test_check_lists_the_profiles_and_refuses_bad_ones(project: Path) -> None:
    stack(project)
    out = run_devstack(["check"], project)
    assert out.returncode == 0
    assert out.stdout.strip().endswith("profiles: debug, full, storage)")
    write_config(project, {"a": {"cmd": SLEEP, "profiles": "debug"}, "b": {"cmd": SLEEP, "profiles": ["-x"]}})
    out = run_devstack(["check"], project)
    assert out.returncode == 2
    assert 'services.a.profiles: expected an array of profile names such as ["debug"], found ' \
        '"debug" (a string)' in out.stderr
    assert 'services.b.profiles: invalid profile name "-x"' in out.stderr
