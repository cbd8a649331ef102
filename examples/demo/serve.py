"""What api.py and web.py share: serving HTTP on the socket devstack passes (``socket = true``: fd 3,
systemd's LISTEN_FDS convention), or on HOST:PORT when run without it; stopping gracefully on SIGTERM
(the requests in hand are answered, the ones not yet accepted wait for the next instance); and a log
line per request, except the health checks devstack sends every second."""

import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN_FD = 3


class QuietHealth(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: object) -> None:
        if self.path != "/healthz":  # devstack's probes: not worth a line each
            print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # on SIGTERM, wait for the requests in hand
    block_on_close = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        passed = os.environ.get("LISTEN_PID") == str(os.getpid()) and os.environ.get("LISTEN_FDS") == "1"
        super().__init__((os.environ["HOST"], int(os.environ["PORT"])), handler,
                         bind_and_activate=not passed)
        if passed:  # devstack listens, and kept the socket across restarts: serve it
            self.socket.close()
            self.socket = socket.socket(fileno=LISTEN_FD)
            # two instances accept from it during a reload: the one that loses a connection must not block
            self.socket.setblocking(False)


def serve(handler: type[BaseHTTPRequestHandler], banner: str) -> None:
    server = _Server(handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(banner, flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()  # waits for the requests in hand
