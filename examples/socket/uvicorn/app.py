"""A bare ASGI app (no framework): GET / answers a JSON greeting with VERSION and the pid that served
it, GET /healthz answers ok. Edit VERSION and save: devstack starts the new version on the same socket
before stopping the old one."""

import json
import os
from typing import Any

VERSION = "1"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        status, body = 200, {"ok": True}
    else:
        status, body = 200, {"version": VERSION, "pid": os.getpid()}
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
