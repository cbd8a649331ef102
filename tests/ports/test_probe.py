"""Probing: a port is taken whatever address it is bound on; the holder is named."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from devstack.ports import check_range, holder, is_free
from devstack.ports.pool import BLOCK, ephemeral_range, preferred_order
from devstack.ports.probe import has_ipv6_loopback

from .kit import free_range, server

IPV6 = has_ipv6_loopback()


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", pytest.param("::1", marks=pytest.mark.skipif(
    not IPV6, reason="no IPv6"))])
def test_a_listener_on_any_address_makes_the_port_taken(host: str) -> None:
    with server(host) as (_, port):
        assert not is_free(port)
        assert not is_free(port, lingering_ok=True)


def test_a_free_port_is_free() -> None:
    lo, _ = free_range(1)
    assert is_free(lo)
    assert holder(lo) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEADDR semantics of Linux")
def test_time_wait_leftovers_are_ignored_only_when_asked() -> None:
    # a server that closes its side first leaves its own port in TIME_WAIT, as a restarted service does
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = srv.accept()
    accepted.close()
    srv.close()
    client.close()
    assert not is_free(port)
    assert is_free(port, lingering_ok=True)


def test_holder_names_the_pid_and_command() -> None:
    with server("127.0.0.1") as (child, port):
        found = holder(port)
        assert found is not None
        assert found.pid == child.pid
        assert "python" in found.name
        assert "sys.argv" in found.cmdline  # the -c program
        assert str(found).startswith(f"pid {child.pid} (")


def test_check_range_accepts_the_default() -> None:
    assert check_range(20000, 29999) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/sys/net/ipv4")
def test_check_range_refuses_the_kernels_ephemeral_range() -> None:
    e_lo, e_hi = ephemeral_range()
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        assert (e_lo, e_hi) == tuple(int(p) for p in f.read().split())
    message = check_range(e_lo - 100, e_lo + 10)
    assert message is not None
    assert f"{e_lo}-{e_hi}" in message and "ephemeral" in message and "outgoing connections" in message


def test_check_range_refuses_nonsense() -> None:
    assert "1024-65535" in (check_range(80, 2000) or "")
    assert check_range(30000, 20000) is not None


def test_each_project_starts_at_its_own_block(tmp_path: Path) -> None:
    root = tmp_path
    order = list(preferred_order(root / "a", 20000, 29999))
    assert sorted(order) == list(range(20000, 30000))
    assert (order[0] - 20000) % BLOCK == 0
    assert order == list(preferred_order(root / "a", 20000, 29999))  # the same in every run
    starts = {next(preferred_order(root / name, 20000, 29999)) for name in "abcdefgh"}
    assert len(starts) > 1
