"""A small JSON API: GET /api/items, GET /healthz. Listens where devstack says (HOST, PORT) and allows
the web front end's origin (WEB_URL, injected by devstack) to call it from the browser."""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "1"
ITEMS = [{"id": 1, "name": "keyboard"}, {"id": 2, "name": "mouse"}, {"id": 3, "name": "monitor"}]
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
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

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    print(f"api v{VERSION} listening on http://{os.environ['HOST']}:{os.environ['PORT']}")
    server.serve_forever()
