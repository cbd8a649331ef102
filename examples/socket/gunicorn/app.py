"""A bare WSGI app: GET / answers its VERSION and the pid of the worker that served it, GET /healthz
answers ok."""

import os
from collections.abc import Callable, Iterable
from typing import Any

VERSION = "1"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = b"ok" if environ["PATH_INFO"] == "/healthz" else f"version {VERSION} pid {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
