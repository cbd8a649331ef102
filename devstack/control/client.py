"""Talking to a running stack from another terminal: httpx over the project's Unix socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from ..errors import DevstackError
from ..state import read_run

__all__ = ("NotRunning", "control_client", "request")

TIMEOUT = 10.0


class NotRunning(DevstackError):
    """No stack is running for this project."""


def _socket(state_dir: Path) -> Path:
    record = read_run(state_dir)
    if record is None or not record.alive or not record.control:
        raise NotRunning("no stack is running for this project (start one with devstack up)")
    return Path(record.control)


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
