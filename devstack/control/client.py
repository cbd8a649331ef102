"""Talking to a running stack from another terminal: httpx over the project's Unix socket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from ..errors import DevstackError
from ..state import read_run

__all__ = ("NotRunning", "control_client", "request")

TIMEOUT = 10.0


class NotRunning(DevstackError):
    """No stack is running for this project."""


STARTING_DEADLINE = 10.0  # for a supervisor that is up but has not opened its socket yet


def _socket(state_dir: Path) -> Path:
    """The running supervisor's socket. One that has just started opens it a moment after its
    services start (its HTTP library imports meanwhile): wait for it, with a deadline."""
    deadline = time.monotonic() + STARTING_DEADLINE
    while True:
        record = read_run(state_dir)
        if record is None or not record.alive:
            raise NotRunning("no stack is running for this project (start one with devstack up)")
        if record.control:
            return Path(record.control)
        if time.monotonic() > deadline:
            raise NotRunning(f"the stack (pid {record.pid}) has not opened its control socket "
                             f"after {STARTING_DEADLINE:g} s")
        time.sleep(0.02)


def control_client(state_dir: Path, timeout: float | None = TIMEOUT) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=str(_socket(state_dir)))
    return httpx.Client(transport=transport, base_url="http://devstack", timeout=timeout, trust_env=False)


def request(state_dir: Path, method: str, path: str, **kwargs: Any) -> Any:
    """One call to the control API; its JSON answer. Errors become messages, never tracebacks."""
    try:
        with control_client(state_dir) as client:
            resp = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise NotRunning(f"the running stack does not answer on its control socket ({exc}); "
                         "if it is stuck, stop it with Ctrl-C in its terminal") from None
    try:
        body = resp.json()
    except ValueError:
        body = {"error": resp.text}
    if resp.status_code >= 400:
        raise DevstackError(str(body.get("error", body)) if isinstance(body, dict) else str(body))
    return body
