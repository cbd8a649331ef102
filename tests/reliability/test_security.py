"""Security: another user's client is refused, even for a request that would change something; every
socket devstack (the supervisor and its guardian) listens on is loopback or its Unix socket; health
probes ignore proxy variables; .devstack/ is 0700 and everything in it 0600."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
from pathlib import Path

import psutil
import pytest
from conftest import python
from helpers.nobody import as_nobody
from helpers.stack import Stack, clean_env, guardian_of, write_config

from devstack.control.client import request

from .kit import control_socket

HTTP = python("""
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
print('ready pid=%d' % os.getpid(), flush=True)
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
""")


class Proxy:
    """A listener standing in for a proxy: it only counts who connects."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()


def test_sockets_modes_and_proxies(project: Path) -> None:
    proxy = Proxy()
    env = clean_env(**{var: proxy.url for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                   "ALL_PROXY", "all_proxy")})
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    write_config(project, {"web": {"cmd": HTTP, "health": {"http": "/", "start_interval": "50ms"}}})
    try:
        with Stack(project, "up", "--no-timestamps", env=env) as stack:
            stack.wait_for_line(r"devstack \| web healthy in")
            state = project / ".devstack"
            sock_path = control_socket(project)
            for pid in (stack.pid, guardian_of(stack.pid).pid):
                for conn in psutil.Process(pid).net_connections(kind="all"):
                    if conn.status == psutil.CONN_LISTEN or conn.family == socket.AF_UNIX and conn.laddr:
                        if conn.family == socket.AF_UNIX:
                            assert conn.laddr in ("", str(sock_path)), (pid, conn)
                        else:
                            assert conn.laddr.ip in ("127.0.0.1", "::1"), (pid, conn)
                    elif conn.family in (socket.AF_INET, socket.AF_INET6) and conn.laddr:
                        assert conn.laddr.ip in ("127.0.0.1", "::1"), (pid, conn)
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            for path in state.rglob("*"):
                want = 0o700 if path.is_dir() else 0o600
                assert stat.S_IMODE(path.lstat().st_mode) == want, (path, oct(path.lstat().st_mode))
            stack.send(signal.SIGTERM)
            assert stack.wait() == 143
    finally:
        proxy.sock.close()
    assert proxy.hits == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user (nobody)")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_another_user_cannot_stop_the_stack(project: Path) -> None:
    write_config(project, {"worker": {"cmd": python("import time; print('up', flush=True); time.sleep(60)"),
                                      "port": False}})
    shared = Path(tempfile.mkdtemp(prefix="devstack-rel-"))
    try:
        shared.chmod(0o755)
        with Stack(project, "up", "--no-timestamps") as stack:
            stack.started("worker")
            sock = control_socket(project)
            link = shared / "control.sock"
            os.link(sock, link)
            sock.chmod(0o666)  # opened up by hand: the server itself must still refuse
            answer = as_nobody(link, "POST", "/down")
            assert " 403 " in answer and "another user" in answer, answer
            sock.chmod(0o600)
            snap = request(project / ".devstack", "GET", "/status")
            assert not snap["stopping"] and snap["services"][0]["state"] == "running"
            stack.send(signal.SIGTERM)
            assert stack.wait() == 143
    finally:
        shutil.rmtree(shared)
