"""The dependency graph: problems, start order, stop order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.config.model import Dependency, Service
from devstack.errors import UsageError
from devstack.graph import (
    dependents,
    problems,
    start_order,
    stop_before,
    stop_waves,
    with_dependencies,
)


def svc(name: str, *deps: str) -> Service:
    return Service(name=name, cmd="true", cwd=Path("/"), depends_on=tuple(Dependency(d) for d in deps))


def stack(**edges: str) -> dict[str, Service]:
    """``stack(api="db", web="api mail")``: each service and what it depends on."""
    return {name: svc(name, *deps.split()) for name, deps in edges.items()}


def test_docstring_example() -> None:
    services = {"api": svc("api", "db"), "web": svc("web", "api"), "db": svc("db"), "mail": svc("mail")}
    assert with_dependencies(["web"], services) == ["db", "api", "web"]
    assert stop_waves(["web", "api", "db", "mail"], services) == [["mail", "web"], ["api"], ["db"]]


def test_a_sound_graph_has_no_problems() -> None:
    assert problems(stack(web="api", api="db cache", db="", cache="")) == []


def test_cycle_is_shown() -> None:
    services = stack(a="b", b="c", c="a", d="a")
    assert problems(services) == [("a", "dependency cycle: a -> b -> c -> a")]


def test_self_dependency_is_a_cycle() -> None:
    assert problems(stack(a="a")) == [("a", "dependency cycle: a -> a")]


def test_each_cyclic_group_is_reported_once() -> None:
    services = stack(a="b", b="a c", c="a", x="y", y="x", z="")
    assert problems(services) == [
        ("a", "dependency cycle: a -> b -> a"),
        ("x", "dependency cycle: x -> y -> x"),
    ]


def test_unknown_dependency_with_a_hint() -> None:
    services = stack(api="postgress redis", postgres="")
    assert problems(services) == [
        ("api", 'depends on "postgress", which is not a service; did you mean "postgres"?'),
        ("api", 'depends on "redis", which is not a service'),
    ]


def test_unknown_names_and_cycles_together() -> None:
    found = problems(stack(a="b nope", b="a"))
    assert [m for _, m in found] == [
        'depends on "nope", which is not a service',
        "dependency cycle: a -> b -> a",
    ]


def test_with_dependencies_is_transitive_and_in_start_order() -> None:
    services = stack(web="api", api="db cache", db="", cache="db", worker="db", mail="")
    assert with_dependencies(["web"], services) == ["db", "cache", "api", "web"]
    assert with_dependencies(["worker", "web"], services) == ["db", "worker", "cache", "api", "web"]
    assert with_dependencies(["db"], services) == ["db"]
    assert with_dependencies([], services) == []


def test_start_order_puts_dependencies_first() -> None:
    services = stack(web="api", api="db", db="", mail="")
    assert start_order(services) == ["db", "api", "web", "mail"]


def test_unknown_service_name_is_a_usage_error_with_hint() -> None:
    with pytest.raises(UsageError, match=r'no service named "wbe"; did you mean "web"\?'):
        with_dependencies(["wbe"], stack(web=""))


def test_with_dependencies_refuses_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        with_dependencies(["a"], stack(a="b", b="a"))


def test_stop_waves() -> None:
    services = stack(web="api", api="db", worker="db", db="", mail="")
    assert stop_waves(services, services) == [["mail", "web", "worker"], ["api"], ["db"]]
    assert stop_waves(["db"], services) == [["db"]]


def test_stop_before_sees_through_services_not_being_stopped() -> None:
    services = stack(web="api", api="db", worker="db", db="")
    assert stop_before(["web", "db"], services) == {"web": set(), "db": {"web"}}
    assert stop_before(services, services) == {
        "web": set(), "api": {"web"}, "worker": set(), "db": {"api", "worker"},  # web: through api
    }


def test_dependents() -> None:
    services = stack(web="api", api="db", worker="db", db="", mail="")
    assert dependents(["db"], services) == ["api", "web", "worker"]
    assert dependents(["api"], services) == ["web"]
    assert dependents(["mail"], services) == []


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Service]:
    """Random acyclic graphs: a service depends only on services with a smaller number."""
    n = draw(st.integers(1, 12))
    names = [f"s{i}" for i in range(n)]
    return {
        name: svc(name, *draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else ())
        for i, name in enumerate(names)
    }


@given(dags(), st.data())
def test_orders_respect_every_edge(services: dict[str, Service], data: st.DataObject) -> None:
    assert problems(services) == []
    chosen = data.draw(st.lists(st.sampled_from(sorted(services)), unique=True))
    order = with_dependencies(chosen, services)
    assert len(order) == len(set(order))
    assert set(chosen) <= set(order)
    for name in order:
        for dep in services[name].depends_on:
            assert dep.name in order
            assert order.index(dep.name) < order.index(name)
    waves = stop_waves(chosen, services)
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    assert sorted(wave_of) == sorted(chosen)
    closure = {name: set(with_dependencies([name], services)) - {name} for name in chosen}
    for name in chosen:
        for dep in closure[name] & set(chosen):
            assert wave_of[name] < wave_of[dep]  # dependents stop first


def test_declared_but_broken_services_are_no_unknown_names() -> None:
    services = stack(a="b broken", b="a")  # "broken" exists but was left out: it has problems of its own
    assert problems(services, declared=["a", "b", "broken"]) == [("a", "dependency cycle: a -> b -> a")]
    assert problems(services)[0] == ("a", 'depends on "broken", which is not a service')
