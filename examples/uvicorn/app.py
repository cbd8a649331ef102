"""A bare ASGI app (no framework) for uvicorn: GET / answers a JSON greeting with VERSION, GET /healthz
answers ok. Edit VERSION and save: devstack restarts uvicorn on the same port."""

import json
import os
from typing import Any

VERSION = "1"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # nothing to set up or tear down; say so
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/healthz":
        status, body = 200, {"ok": True}
    elif scope["path"] == "/":
        status, body = 200, {"message": "hello from uvicorn", "version": VERSION,
                             "service": os.environ.get("DEVSTACK_SERVICE")}
    else:
        status, body = 404, {"error": f"no route {scope['path']}"}
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
