"""The lease registry: concurrent projects never share a port; leases of dead owners are reclaimed."""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest

from devstack.config.model import PortSpec
from devstack.errors import PortError
from devstack.ports import allocate, release_project
from devstack.ports.leases import open_registry, registry_dir

from .kit import allocator, free_range, result


def mains(n: int) -> list[tuple[str, PortSpec]]:
    return [(f"s{i}", PortSpec()) for i in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(10))
def test_three_projects_allocating_at_once_never_share_a_port(project: Path, round_: int) -> None:
    # a pool smaller than a block, so all three start at the same port and contend for the same ones;
    # some slack, since other programs on this machine may take a port of it meanwhile
    port_range = free_range(32)
    roots = [project / f"p{i}" for i in range(3)]
    with ExitStack() as stack:
        children = []
        for root in roots:
            root.mkdir()
            children.append(stack.enter_context(allocator(root, port_range, 8)))
        for child in children:  # all are ready (imports done): now let them go together
            child.send("go\n")
        results = [result(child) for child in children]
    assert all("error" not in r for r in results), results
    ports = [p for r in results for keys in r["ports"].values() for p in keys.values()]
    assert len(ports) == len(set(ports)) == 24
    assert all(port_range[0] <= p <= port_range[1] for p in ports)


def test_a_dead_owners_leases_are_reclaimed(project: Path) -> None:
    dead = project / "dead"
    dead.mkdir()
    port_range = free_range(3)
    with allocator(dead, port_range, 3) as child:
        child.send("go\n")
        theirs = result(child)["ports"]
        owner = child.pid
    assert not psutil.pid_exists(owner) or psutil.Process(owner).status() == psutil.STATUS_ZOMBIE
    # the pool holds exactly their 3 ports: only reclaiming the dead owner's leases makes room
    mine = allocate(project, mains(3), port_range)
    assert sorted(p["port"] for p in mine.ports.values()) == sorted(p["port"] for p in theirs.values())
    with open_registry() as registry:
        assert registry.entries[str(dead.resolve())].pid == 0


def test_a_live_owners_leases_are_respected(project: Path) -> None:
    other = project / "other"
    other.mkdir()
    port_range = free_range(3)
    with allocator(other, port_range, 2) as child:
        child.send("go\n")
        theirs = {p["port"] for p in result(child)["ports"].values()}
        mine = allocate(project, mains(1), port_range)
        assert mine.port("s0") not in theirs
        with pytest.raises(PortError, match="no free port left"):
            allocate(project, mains(2), port_range)


def test_a_reused_pid_is_not_taken_for_the_owner(project: Path) -> None:
    """A lease naming this very pid but another start time belongs to a process that is gone."""
    other = project / "other"
    other.mkdir()
    port_range = free_range(2)
    with open_registry() as registry:
        registry.lease(str(other), os.getpid(), 1.0, {"api": {"port": port_range[0], "admin": port_range[1]}})
    alloc = allocate(project, mains(2), port_range)
    assert sorted(p["port"] for p in alloc.ports.values()) == list(port_range)
    assert alloc.warnings == []


def test_remembered_ports_of_other_projects_are_avoided_while_there_is_room(project: Path) -> None:
    other = project / "other"
    other.mkdir()
    port_range = free_range(6)
    theirs = allocate(other, mains(3), port_range)
    release_project(other)
    mine = allocate(project, mains(3), port_range)
    assert not {p["port"] for p in mine.ports.values()} & {p["port"] for p in theirs.ports.values()}


def test_registry_is_private_and_beside_its_lock(project: Path) -> None:
    allocate(project, mains(1))
    directory = registry_dir()
    assert directory == project / ".xdg-state" / "devstack"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "leases.toml").stat().st_mode) == 0o600
    assert (directory / "leases.lock").exists()
    text = (directory / "leases.toml").read_text()
    assert f"pid = {os.getpid()}" in text and str(project.resolve()) in text


def test_projects_that_no_longer_exist_are_forgotten(project: Path) -> None:
    gone = project / "gone"
    gone.mkdir()
    allocate(gone, mains(1))
    release_project(gone)
    shutil.rmtree(gone)
    allocate(project, mains(1))
    with open_registry() as registry:
        assert str(gone.resolve()) not in registry.entries
