"""``devstack attach NAME``: connect this terminal to an ``interactive = true`` service's pty (a debugger's
prompt, a REPL): keys go to the service, its screen comes here, the window size follows this terminal's.

The terminal is put in raw mode while attached (restored however the command ends), so every key, Ctrl-C
included, goes to the service. Ctrl-P Ctrl-Q (docker's sequence) detaches and leaves the service
running; a Ctrl-P followed by any other key is sent as it is. Attaching is a request on the control
socket that leaves HTTP (``control.attach`` describes the exchange).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import tty
from collections.abc import Iterator
from urllib.parse import quote

import h11

from ..control.attach import INPUT, PROTOCOL, WINDOW, frame
from ..control.client import NotRunning, control_socket
from ..errors import DevstackError
from ..project import Project
from .common import check_names

__all__ = ("DETACH", "attach")

CTRL_P, CTRL_Q = 0x10, 0x11
DETACH = "Ctrl-P Ctrl-Q"


def attach(project: Project, args: argparse.Namespace) -> int:
    name = args.name
    check_names(project.config, [name])
    sock, screen = _connect(control_socket(project.state_dir), name)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    # raw before anything is shown: a key pressed once the prompt is seen is the service's, even Ctrl-C
    with sock, _raw(stdin):
        print(f"devstack: attached to {name}; {DETACH} detaches (it keeps running)\r", file=sys.stderr,
              flush=True)
        os.write(stdout, screen)
        ended = _pump(sock, stdin, stdout)
    if ended:
        print(f"\r\ndevstack: {name}'s terminal closed (it ended, or the stack stopped)", file=sys.stderr)
    else:
        print(f"\r\ndevstack: detached from {name}; it keeps running", file=sys.stderr)
    return 0


def _connect(path: str, name: str) -> tuple[socket.socket, bytes]:
    """The control socket, switched to the attach protocol, and the first of the service's screen (what
    came with the switch)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise NotRunning(f"the running stack does not answer on its control socket ({exc})") from None
    conn = h11.Connection(our_role=h11.CLIENT)
    sock.sendall(conn.send(h11.Request(method="POST", target=f"/attach?name={quote(name)}", headers=[
        ("Host", "devstack"), ("Upgrade", PROTOCOL), ("Connection", "Upgrade"), ("Content-Length", "0")])))
    sock.sendall(conn.send(h11.EndOfMessage()))
    status, body = 0, bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(64 * 1024))
        elif isinstance(event, h11.InformationalResponse) and event.status_code == 101:
            return sock, conn.trailing_data[0]
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        else:  # the end of a refusal, or the connection closed
            sock.close()
            try:
                message = json.loads(body)["error"]
            except (ValueError, KeyError, TypeError):
                message = f"the stack refused to attach (HTTP {status})"
            raise DevstackError(message)


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """Raw mode on a terminal (nothing on anything else), restored on the way out."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # keys typed ahead are kept, not flushed
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _window(fd: int) -> bytes | None:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return frame(WINDOW, struct.pack(">HH", size.lines, size.columns))


def _pump(sock: socket.socket, stdin: int, stdout: int) -> bool:
    """Keys to the socket, the screen to stdout, the window size on each SIGWINCH; until the detach
    keys (False) or the service's side closes (True)."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous_wakeup = signal.set_wakeup_fd(wake_w)
    previous_winch = signal.signal(signal.SIGWINCH, lambda *_: None)  # the wakeup fd tells the loop
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "sock")
    selector.register(stdin, selectors.EVENT_READ, "stdin")
    selector.register(wake_r, selectors.EVENT_READ, "winch")
    held = False  # a Ctrl-P waiting for the next key
    try:
        size = _window(stdout if os.isatty(stdout) else stdin)
        if size:
            sock.sendall(size)
        while True:
            for key, _ in selector.select():
                if key.data == "sock":
                    data = sock.recv(64 * 1024)
                    if not data:
                        return True
                    os.write(stdout, data)
                elif key.data == "winch":
                    os.read(wake_r, 512)
                    size = _window(stdout if os.isatty(stdout) else stdin)
                    if size:
                        sock.sendall(size)
                else:
                    data = os.read(stdin, 4096)
                    if not data:  # stdin ended: nothing more to type
                        return False
                    keys = bytearray()
                    for byte in data:
                        if held:
                            held = False
                            if byte == CTRL_Q:
                                if keys:
                                    sock.sendall(frame(INPUT, bytes(keys)))
                                return False
                            keys.append(CTRL_P)
                        if byte == CTRL_P:
                            held = True
                        else:
                            keys.append(byte)
                    if keys:
                        sock.sendall(frame(INPUT, bytes(keys)))
    except ConnectionError:
        return True
    except OSError:  # this terminal went away (EIO): detach
        return False
    finally:
        selector.close()
        signal.signal(signal.SIGWINCH, previous_winch)
        signal.set_wakeup_fd(previous_wakeup)
        os.close(wake_r)
        os.close(wake_w)
