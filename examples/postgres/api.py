"""A small JSON API over PostgreSQL, at the DATABASE_URL devstack injects:
GET /notes, POST /notes (a JSON body {"text": "..."}), GET /healthz (the database answers)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

DATABASE_URL = os.environ["DATABASE_URL"]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            with psycopg.connect(DATABASE_URL) as conn:
                conn.execute("SELECT 1")
            self.reply(200, {"ok": True})
        elif self.path == "/notes":
            with psycopg.connect(DATABASE_URL) as conn:
                rows = conn.execute("SELECT id, text FROM notes ORDER BY id").fetchall()
            self.reply(200, {"notes": [{"id": i, "text": t} for i, t in rows]})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/notes":
            self.reply(404, {"error": f"no route {self.path}"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with psycopg.connect(DATABASE_URL) as conn:
            row = conn.execute("INSERT INTO notes (text) VALUES (%s) RETURNING id",
                               (body["text"],)).fetchone()
        self.reply(201, {"id": row[0] if row else None, "text": body["text"]})

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
    print(f"api listening on http://{os.environ['HOST']}:{os.environ['PORT']} (database {DATABASE_URL})")
    server.serve_forever()
