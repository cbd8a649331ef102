"""Talking to a running stack from another terminal: httpx over the project's Unix socket.

A command like ``devstack status`` is mostly Python starting up, so this path is kept lean: httpx is
imported only once a stack is known to be running, its transport skips loading the CA bundle (there is
no TLS on a Unix socket: ~50 ms), and the supervisor's liveness is judged by the socket answering, not
by looking it up among the processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DevstackError
from ..state import RunRecord, read_run, refuse_foreign

if TYPE_CHECKING:
    import httpx

__all__ = ("NotRunning", "control_client", "control_socket", "request")

TIMEOUT = 10.0
NO_STACK = "no stack is running for this project (start one with devstack up)"


class NotRunning(DevstackError):
    """No stack is running for this project."""


STARTING_DEADLINE = 10.0  # for a supervisor that is up but has not opened its socket yet
CONNECT_RETRY = 3.0  # how long a refused connection to a live supervisor is tried again


def _running(state_dir: Path) -> RunRecord:
    """The running supervisor's record, once it names its socket. One that has just started opens it a
    moment after its services start: wait for it, with a deadline."""
    refuse_foreign(state_dir, "see or steer it")
    deadline = time.monotonic() + STARTING_DEADLINE
    while True:
        record = read_run(state_dir)
        if record is None:
            raise NotRunning(NO_STACK)
        if record.control:
            return record
        if not record.alive:
            raise NotRunning(NO_STACK)
        if time.monotonic() > deadline:
            raise NotRunning(f"the stack (pid {record.pid}) has not opened its control socket "
                             f"after {STARTING_DEADLINE:g} s")
        time.sleep(0.02)


def control_client(state_dir: Path, timeout: float | None = TIMEOUT) -> httpx.Client:
    """A client for a long exchange (``wait``, ``logs -f``): the supervisor is checked to be alive first,
    where ``request`` lets a failed connection tell."""
    record = _running(state_dir)
    if not record.alive:  # a record and a socket left by a supervisor that was killed
        raise NotRunning(NO_STACK)
    return _client(record, timeout, retries=3)  # a refused connect is tried again: 0.5 s, then 1 s


def control_socket(state_dir: Path) -> str:
    """The path of the running stack's control socket, for a connection that leaves HTTP (attach)."""
    record = _running(state_dir)
    if not record.alive or record.control is None:
        raise NotRunning(NO_STACK)
    return record.control


def _client(record: RunRecord, timeout: float | None, retries: int = 0) -> httpx.Client:
    import httpx

    assert record.control is not None
    transport = httpx.HTTPTransport(uds=record.control, verify=False, retries=retries)
    return httpx.Client(transport=transport, base_url="http://devstack", timeout=timeout, trust_env=False)


def _no_answer(exc: Exception) -> NotRunning:
    return NotRunning(f"the running stack does not answer on its control socket ({exc}); "
                      "if it is stuck, stop it with Ctrl-C in its terminal")


def request(state_dir: Path, method: str, path: str, **kwargs: Any) -> Any:
    """One call to the control API; its JSON answer. Errors become messages, never tracebacks."""
    import httpx

    record = _running(state_dir)
    deadline = time.monotonic() + CONNECT_RETRY
    delay = 0.01
    while True:
        try:
            with _client(record, TIMEOUT) as client:
                resp = client.request(method, path, **kwargs)
            break
        except httpx.ConnectError as exc:
            # refused, or EAGAIN (its backlog is full: a burst of clients); nothing was sent, so it is
            # safe to try again a moment later, while the supervisor is alive
            if not record.alive:  # a record and a socket left by a supervisor that was killed
                raise NotRunning(NO_STACK) from None
            if time.monotonic() + delay > deadline:
                raise _no_answer(exc) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        except httpx.TransportError as exc:
            if not record.alive:
                raise NotRunning(NO_STACK) from None
            raise _no_answer(exc) from None
    try:
        body = resp.json()
    except ValueError:
        body = {"error": resp.text}
    if resp.status_code >= 400:
        raise DevstackError(str(body.get("error", body)) if isinstance(body, dict) else str(body))
    return body
