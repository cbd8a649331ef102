"""A client of the control socket running as another user (``nobody``, through setpriv; needs root):
what another user on the machine would get."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ("as_nobody",)

# argv: socket path, method, path. Prints "refused ERRNO", or the status line and the body.
CLIENT = """
import socket, sys
sock, method, path = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sock)
except OSError as exc:
    print("refused", exc.errno)
    sys.exit(0)
body = b"{}" if method == "POST" else b""
s.sendall(f"{method} {path} HTTP/1.1\\r\\nHost: devstack\\r\\nContent-Length: {len(body)}\\r\\n"
          f"Connection: close\\r\\n\\r\\n".encode() + body)
data = b""
while chunk := s.recv(65536):  # until the server closes (Connection: close)
    data += chunk
print(data.split(b"\\r\\n")[0].decode(), data.split(b"\\r\\n\\r\\n", 1)[1].decode())
"""


def as_nobody(sock: Path, method: str = "GET", path: str = "/status") -> str:
    python = os.path.realpath(sys.executable)
    out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-I",
                          "-c", CLIENT, str(sock), method, path], capture_output=True, text=True,
                         timeout=20, cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
