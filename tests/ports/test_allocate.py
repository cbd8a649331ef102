"""Allocation: stable, persisted, pins honoured, moved ports explained."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from devstack.config.model import PortSpec
from devstack.errors import PortError
from devstack.ports import allocate, read_assignments, release_project
from devstack.ports.leases import open_registry
from devstack.ports.pool import ephemeral_range

from .kit import allocator, free_range, result, server


def mains(*names: str) -> list[tuple[str, PortSpec]]:
    return [(name, PortSpec()) for name in names]


def test_ports_are_stable_over_runs(project: Path) -> None:
    requests = [*mains("db", "api"), ("api", PortSpec("admin")), *mains("web")]
    first = allocate(project, requests)
    assert set(first.ports) == {"db", "api", "web"}
    assert set(first.ports["api"]) == {"port", "admin"}
    flat = [p for keys in first.ports.values() for p in keys.values()]
    assert len(set(flat)) == 4 and all(20000 <= p <= 29999 for p in flat)
    assert first.warnings == []
    assert allocate(project, requests).ports == first.ports  # again, same process
    assert release_project(project)
    again = allocate(project, requests)
    assert again.ports == first.ports and again.warnings == []
    assert again.port("api", "admin") == first.ports["api"]["admin"]


def test_ports_file_is_private_and_readable(project: Path) -> None:
    alloc = allocate(project, [*mains("api"), ("api", PortSpec("admin"))])
    path = project / ".devstack" / "ports.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert f"[api]\nport = {alloc.port('api')}\nadmin = {alloc.port('api', 'admin')}\n" in text
    assert tomllib.loads(text) == alloc.ports
    assert read_assignments(project) == alloc.ports


def test_read_assignments_without_a_file(project: Path) -> None:
    assert read_assignments(project) == {}


def test_adding_removing_renaming_a_service_moves_no_other(project: Path) -> None:
    before = allocate(project, mains("db", "api", "web")).ports
    added = allocate(project, mains("db", "cache", "api", "web")).ports
    assert {s: added[s] for s in before} == before
    assert added["cache"]["port"] not in {p["port"] for p in before.values()}
    removed = allocate(project, mains("db", "cache", "web")).ports
    assert removed == {s: added[s] for s in ("db", "cache", "web")}
    renamed = allocate(project, mains("database", "cache", "web")).ports
    assert renamed["cache"] == added["cache"] and renamed["web"] == added["web"]
    assert "db" not in read_assignments(project)


def test_a_pinned_port_is_used_as_is(project: Path) -> None:
    lo, _ = free_range(1)
    alloc = allocate(project, [("api", PortSpec(pinned=lo)), *mains("web")])
    assert alloc.port("api") == lo and alloc.port("web") != lo


def test_a_busy_pinned_port_names_its_holder(project: Path) -> None:
    with server("127.0.0.1") as (child, port):
        with pytest.raises(PortError) as info:
            allocate(project, [("api", PortSpec(pinned=port))])
    message = str(info.value)
    assert message.startswith(f"port {port} of api is in use by pid {child.pid} (")
    assert "sys.argv" in message  # the holder's command line
    assert message.endswith("stop it, or remove the pin to let devstack choose a port")
    assert not (project / ".devstack" / "ports.toml").exists()


def test_the_same_pin_twice_is_refused(project: Path) -> None:
    lo, _ = free_range(1)
    with pytest.raises(PortError, match=f"port {lo} is pinned by both api and web"):
        allocate(project, [("api", PortSpec(pinned=lo)), ("web", PortSpec(pinned=lo))])


def test_a_stolen_port_is_reassigned_with_a_warning_naming_the_holder(project: Path) -> None:
    first = allocate(project, mains("api", "web"))
    release_project(project)
    stolen = first.port("web")
    with server("127.0.0.1", stolen) as (child, _):
        again = allocate(project, mains("api", "web"))
    assert again.port("api") == first.port("api")
    assert again.port("web") != stolen
    [warning] = again.warnings
    assert warning.startswith(f"web: port {stolen} of the last run is now in use by pid {child.pid} (")
    assert warning.endswith(f"it now gets port {again.port('web')}")
    assert read_assignments(project)["web"]["port"] == again.port("web")


def test_a_port_another_running_project_holds_is_reassigned(project: Path) -> None:
    other = project / "other"
    other.mkdir()
    port_range = free_range(4)
    with allocator(other, port_range, 1) as child:
        child.send("go\n")
        theirs = result(child)["ports"]["s0"]["port"]
        (project / ".devstack").mkdir()
        (project / ".devstack" / "ports.toml").write_text(f"[api]\nport = {theirs}\n")
        alloc = allocate(project, mains("api"), port_range)
        leased = f"port {theirs} of web is leased to s0 .* {other}, pid {child.pid}"
        with pytest.raises(PortError, match=leased):
            allocate(project, [("web", PortSpec(pinned=theirs))])
    assert alloc.port("api") != theirs
    [warning] = alloc.warnings
    assert f"is now held by s0 (port) of the devstack in {other}, pid {child.pid}" in warning


def test_a_range_in_the_ephemeral_ports_is_refused(project: Path) -> None:
    e_lo, e_hi = ephemeral_range()
    with pytest.raises(PortError, match=f"overlaps the kernel's ephemeral ports {e_lo}-{e_hi}"):
        allocate(project, mains("api"), (e_hi - 100, e_hi))
    assert not (project / ".devstack").exists()


def test_an_exhausted_pool_says_so(project: Path) -> None:
    port_range = free_range(2)
    with pytest.raises(PortError, match=f"no free port left in port_range {port_range[0]}-{port_range[1]}"):
        allocate(project, mains("a", "b", "c"), port_range)


def test_a_port_outside_a_changed_range_moves(project: Path) -> None:
    first = allocate(project, mains("api"), free_range(10))
    second_range = free_range(10)
    if second_range[0] <= first.port("api") <= second_range[1]:
        pytest.skip("the two random ranges met")
    second = allocate(project, mains("api"), second_range)
    assert second_range[0] <= second.port("api") <= second_range[1]
    assert "outside port_range" in second.warnings[0]


def test_a_broken_ports_file_is_an_error_and_bad_entries_are_skipped(project: Path) -> None:
    state = project / ".devstack"
    state.mkdir()
    (state / "ports.toml").write_text("[api\nport = 1\n")
    with pytest.raises(PortError, match="ports.toml is not valid TOML"):
        allocate(project, mains("api"))
    (state / "ports.toml").write_text('[api]\nport = "x"\n')
    alloc = allocate(project, mains("api"))
    assert "ignoring api.port = 'x'" in alloc.warnings[0]


def test_another_live_devstack_of_the_same_project_is_refused(project: Path) -> None:
    port_range = free_range(10)
    with allocator(project, port_range, 1) as child:
        child.send("go\n")
        result(child)
        with pytest.raises(PortError, match=f"held by another devstack \\(pid {child.pid}\\)"):
            allocate(project, mains("s0"), port_range)


def test_release_keeps_the_ports_remembered(project: Path) -> None:
    alloc = allocate(project, mains("api"))
    assert release_project(project)
    assert not release_project(project)
    with open_registry() as registry:
        entry = registry.entries[str(project.resolve())]
    assert entry.pid == 0 and entry.ports == alloc.ports


def test_allocating_again_while_the_stack_runs_keeps_busy_own_ports(project: Path) -> None:
    lo, _ = free_range(1)
    first = allocate(project, [*mains("api"), ("web", PortSpec(pinned=lo))])
    with server("127.0.0.1", first.port("api")), server("127.0.0.1", lo):  # our services, listening
        again = allocate(project, [*mains("api"), ("web", PortSpec(pinned=lo))])
    assert again.ports == first.ports and again.warnings == []
