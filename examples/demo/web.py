"""The front end: serves a page whose script calls the API at the URL devstack injected (API_URL), and
GET /check, where the server itself calls the API the same way (used by the end-to-end test)."""

import http.client
import json
import os
import urllib.request

from serve import QuietHealth, serve

API_URL = os.environ["API_URL"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>devstack demo</title></head>
<body style="font-family: sans-serif">
<h1>devstack demo</h1>
<p>API: <code id="api">{api}</code></p>
<ul id="items"><li>loading…</li></ul>
<script>
fetch("{api}/api/items").then(r => r.json()).then(data => {{
  document.getElementById("items").innerHTML =
    data.items.map(i => "<li>" + i.name + "</li>").join("") + "<li><em>api v" + data.version + "</em></li>";
}}).catch(e => {{ document.getElementById("items").innerHTML = "<li>API unreachable: " + e + "</li>"; }});
</script>
</body></html>
"""


class Handler(QuietHealth):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, "text/plain", b"ok")
        elif self.path == "/check":
            try:
                with urllib.request.urlopen(f"{API_URL}/api/items", timeout=5) as resp:
                    self.reply(200, "application/json", json.dumps(json.load(resp)).encode())
            # the API is down, or an instance stopping for a reload cut its answer short
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.reply(502, "application/json", json.dumps({"error": f"API unreachable: {exc}"}).encode())
        elif self.path == "/":
            self.reply(200, "text/html; charset=utf-8", PAGE.format(api=API_URL).encode())
        else:
            self.reply(404, "text/plain", b"not found")

    def reply(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    serve(Handler, f"web serving http://{os.environ['HOST']}:{os.environ['PORT']} (API at {API_URL})")
