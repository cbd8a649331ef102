"""A standard-library HTTP server that serves the socket devstack passes (systemd's LISTEN_FDS
convention) instead of binding a port itself, and stops gracefully on SIGTERM: it finishes the
request in hand, then exits. GET / answers its VERSION; GET /healthz answers ok.

    LISTEN_FDS=1  LISTEN_PID=<this process>  LISTEN_FDNAMES=<service>, the socket at fd 3
"""

import http.server
import os
import signal
import socket
import threading

VERSION = "1"
SD_LISTEN_FDS_START = 3


def listening_socket() -> socket.socket:
    """The socket at fd 3, as sd_listen_fds(3) finds it: LISTEN_PID must be this process."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
        raise SystemExit("no socket passed (run me with socket = true, and exec me from a cmd string)")
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):  # not for our children
        os.environ.pop(var, None)
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    # non-blocking: while a new instance starts beside this one (reload = "overlap") both wait on the
    # socket, and the one that loses the race for a connection must not block in accept()
    sock.setblocking(False)
    return sock


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok" if self.path == "/healthz" else f"version {VERSION} pid {os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(http.server.HTTPServer):
    def server_bind(self) -> None:  # the socket is bound and listening already
        self.server_address = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def server_activate(self) -> None:
        pass


server = Server(("", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = listening_socket()
server.server_bind()
# SIGTERM: stop accepting; serve_forever returns once the request in hand is answered
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"serving version {VERSION} on port {server.server_port} (pid {os.getpid()})", flush=True)
server.serve_forever(poll_interval=0.05)
server.socket.detach()  # fd 3 closes with this process; nothing to shut down
