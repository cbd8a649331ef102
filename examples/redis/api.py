"""Queues jobs in Redis (at REDIS_URL, injected by devstack): POST /jobs with {"text": "..."} answers
{"id": N}; GET /jobs/N answers the worker's result, or {"status": "queued"} until there is one."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from resp import Redis

REDIS_URL = os.environ["REDIS_URL"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            with Redis(REDIS_URL) as r:
                self.reply(200, {"ok": r.command("PING") == "PONG"})
        elif self.path.startswith("/jobs/"):
            with Redis(REDIS_URL) as r:
                result = r.command("GET", f"result:{self.path.removeprefix('/jobs/')}")
            self.reply(200, json.loads(result) if result else {"status": "queued"})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/jobs":
            self.reply(404, {"error": f"no route {self.path}"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with Redis(REDIS_URL) as r:
            job_id = r.command("INCR", "job:last")
            r.command("LPUSH", "jobs", json.dumps({"id": job_id, "text": body.get("text", "")}))
        self.reply(202, {"id": job_id})

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    print(f"api listening on http://{os.environ['HOST']}:{os.environ['PORT']} (queue at {REDIS_URL})")
    server.serve_forever()
