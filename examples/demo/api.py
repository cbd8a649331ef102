"""A small JSON API: GET /api/items, GET / (its version), GET /healthz. Serves the socket devstack holds
for it (socket = true: an edit reloads it without refusing a request), and allows the web front end's
origin (WEB_URL, injected by devstack) to call it from the browser."""

import json
import os
import time

from serve import QuietHealth, serve

VERSION = "1"
ITEMS = [{"id": 1, "name": "keyboard"}, {"id": 2, "name": "mouse"}, {"id": 3, "name": "monitor"}]
STARTED = time.time()


class Handler(QuietHealth):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
        elif self.path == "/":
            self.reply(200, {"api": "demo", "version": VERSION, "pid": os.getpid()})
        elif self.path == "/api/items":
            self.reply(200, {"items": ITEMS, "version": VERSION, "uptime": round(time.time() - STARTED, 1)})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", os.environ.get("WEB_URL", "*"))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    serve(Handler, f"api v{VERSION} (pid {os.getpid()}) serving http://{os.environ['HOST']}:{os.environ['PORT']}")
