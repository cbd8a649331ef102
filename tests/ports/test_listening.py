"""The contract, verified: real servers that keep it, ignore their port, or bind every interface."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest
from conftest import python, wait_for

from devstack.config.model import PortSpec
from devstack.ports import Listen, allocate, listening, verify
from devstack.ports.probe import has_ipv6_loopback

from .kit import Child, server

needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6")


@pytest.fixture
def given(project: Path) -> int:
    """The port devstack would give the service (PORT)."""
    return allocate(project, [("web", PortSpec())]).port("web")


def test_a_service_on_its_port_on_loopback_is_fine(given: int) -> None:
    with server("127.0.0.1", given) as (child, _):
        found = listening([child.pid])
        assert found == [Listen(child.pid, "127.0.0.1", given)]
        assert verify("web", {"port": given}, found) == []


def test_a_service_that_ignores_its_port(given: int) -> None:
    with server("127.0.0.1") as (child, actual):  # binds a port of its own choosing
        found = listening([child.pid])
    assert found == [Listen(child.pid, "127.0.0.1", actual)]
    [finding] = verify("web", {"port": given}, found)
    assert finding.kind == "ignored_port" and finding.port == given
    assert finding.message == (f"web listens on {actual}, not on its PORT {given}: pass the port on its "
                               "command line: --port ${PORT} (or the option it takes a port with)")


def test_a_service_on_every_interface_is_reachable_from_the_network(given: int) -> None:
    with server("0.0.0.0", given) as (child, _):
        found = listening([child.pid])
    assert found == [Listen(child.pid, "0.0.0.0", given)]
    [finding] = verify("web", {"port": given}, found)
    assert finding.kind == "exposed"
    expected = f"web listens on 0.0.0.0 port {given}, reachable from the network: bind it to 127.0.0.1"
    assert expected in finding.message


@needs_ipv6
def test_a_dual_stack_wildcard_is_exposed_too(given: int) -> None:
    with server("::", given) as (child, _):
        found = listening([child.pid])
    assert found == [Listen(child.pid, "::", given)]
    [finding] = verify("web", {"port": given}, found)
    assert finding.kind == "exposed" and "[::]" in finding.message


@needs_ipv6
def test_ipv6_loopback_alone_is_out_of_reach_of_its_url(given: int) -> None:
    with server("::1", given) as (child, _):
        found = listening([child.pid])
    [finding] = verify("web", {"port": given}, found)
    assert finding.kind == "ipv6_only" and f"http://127.0.0.1:{given}" in finding.message


def test_a_service_that_never_listens(given: int) -> None:
    child = Child(python("import sys\nprint('ready', flush=True)\nsys.stdin.read()"))
    try:
        assert child.readline() == "ready"
        found = listening([child.pid])
    finally:
        child.close()
    assert found == []
    [finding] = verify("web", {"port": given}, found)
    assert finding.kind == "not_listening" and str(given) in finding.message


def test_the_whole_process_tree_is_looked_at(given: int) -> None:
    # a wrapper (npm, sh) whose child does the listening
    code = (f"import subprocess, sys\np = subprocess.Popen([sys.executable, '-c', {_SERVE!r}, '{given}'])\n"
            "print(p.pid, flush=True)\nsys.stdin.read()\np.kill()\np.wait()")
    wrapper = Child(python(code))
    try:
        inner = int(wrapper.readline())
        tree = [wrapper.pid, *(p.pid for p in psutil.Process(wrapper.pid).children(recursive=True))]
        found = _wait_listening(tree)
    finally:
        wrapper.close()
    assert found == [Listen(inner, "127.0.0.1", given)]


_SERVE = ("import socket, sys, time\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\n"
          "s.listen()\ntime.sleep(30)")


def _wait_listening(pids: list[int]) -> list[Listen]:
    found: list[Listen] = wait_for(lambda: listening(pids), message="a listener in the tree")
    return found


def test_gone_processes_are_skipped() -> None:
    child = Child(python("pass"))
    child.close()
    assert listening([child.pid]) == []


def test_a_missing_named_port_and_a_stray_one() -> None:
    listens = [Listen(7, "127.0.0.1", 21000), Listen(7, "127.0.0.1", 9229)]
    [finding] = verify("api", {"port": 21000, "admin": 21001}, listens)
    assert finding.kind == "ignored_port"
    assert finding.message == "api listens on 9229, not on its admin port 21001: use ${api.ports.admin}"
    [finding] = verify("api", {"port": 21000, "admin": 21001}, listens[:1])
    assert finding.kind == "missing_port"
    # extra ports beside the expected ones (a debugger) are no finding
    assert verify("api", {"port": 21000}, listens) == []


def test_an_external_address_is_exposed() -> None:
    listens = [Listen(7, "127.0.0.1", 21000), Listen(7, "192.168.1.20", 21000)]
    [finding] = verify("api", {"port": 21000}, listens)
    assert finding.kind == "exposed" and "192.168.1.20" in finding.message
    assert verify("api", {}, []) == []


def test_sock_diag_and_the_proc_tables_agree() -> None:
    """The fast path (sock_diag) and the fallback (/proc/net/tcp*) both find a socket opened here, under
    the same inode, with its address and port (other processes' sockets may come and go meanwhile)."""
    import socket as socketlib

    from devstack.ports.contract import _proc_net_listening
    from devstack.ports.sockdiag import listening_inodes

    with socketlib.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        inode = os.fstat(s.fileno()).st_ino
        assert listening_inodes()[inode] == ("127.0.0.1", port)
        assert _proc_net_listening()[inode] == ("127.0.0.1", port)
