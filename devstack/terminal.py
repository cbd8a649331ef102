"""The pseudo-terminal of an ``interactive = true`` service, and the terminals attached to it.

The service's stdin, stdout and stderr are the pty's slave side, which is also its controlling terminal
(so Ctrl-C typed into it is SIGINT to the service, and a window size change is SIGWINCH). devstack holds
the master side: what the service writes goes to the merged stream and the logs, line by line, as any
service's output does, and as it is (escape sequences and all) to every attached client; what a client
types is written to the master, as a terminal's keyboard would.

A client that attaches is first sent the line the service is on (its prompt, say), so that it sees what
it is answering. A client that cannot keep up (its buffer over ``CLIENT_BUFFER``) is let go, rather
than slowing the service or filling memory.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import termios
from collections.abc import Callable

from .output import LineSink

__all__ = ("Client", "Terminal", "controlling_tty")

log = logging.getLogger("devstack.terminal")

READ = 64 * 1024
TAIL = 4096  # at most this much of the current line is replayed to a new client
CLIENT_BUFFER = 1024 * 1024
DEFAULT_SIZE = (24, 80)  # rows, columns: a 0x0 terminal confuses many programs

Client = asyncio.WriteTransport


def controlling_tty() -> None:
    """A ``preexec_fn`` step: make stdin (the pty's slave, in a new session) the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self.resize(*DEFAULT_SIZE)
        self.clients: set[Client] = set()
        self._tail = b""  # what the service wrote since its last newline
        self._pending = bytearray()  # typed, not yet taken by the master
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self._closed = asyncio.Event()
        self.on_close: list[Callable[[], None]] = []

    def started(self) -> None:
        """The service has its copy of the slave side: close ours (so that the master reads EOF once
        the service's processes have all closed theirs) and start reading."""
        os.close(self.slave)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, READ)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave side is closed
            data = b""
        if not data:
            self.close()
            return
        self.sink.feed(data)
        end = data.rfind(b"\n")
        self._tail = (data[end + 1:] if end >= 0 else self._tail + data)[-TAIL:]
        for client in list(self.clients):
            if client.is_closing():
                self.clients.discard(client)
            elif client.get_write_buffer_size() > CLIENT_BUFFER:
                log.warning("an attached terminal fell behind; letting it go")
                client.close()
                self.clients.discard(client)
            else:
                client.write(data)

    def attach(self, client: Client) -> None:
        self.clients.add(client)
        if self._tail:
            client.write(self._tail)

    def detach(self, client: Client) -> None:
        self.clients.discard(client)

    def type(self, data: bytes) -> None:
        """Keys from a client, to the service."""
        if self.closed:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            while self._pending:
                n = os.write(self.master, self._pending)
                del self._pending[:n]
        except BlockingIOError:  # the service does not read: wait until the master takes more
            assert self._loop is not None
            self._loop.add_writer(self.master, self._writable)
        except OSError:
            self._pending.clear()

    def _writable(self) -> None:
        assert self._loop is not None
        self._loop.remove_writer(self.master)
        self._flush()

    def resize(self, rows: int, cols: int) -> None:
        """The window size, as the attached terminal has it; the service gets SIGWINCH."""
        if rows > 0 and cols > 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def close(self) -> None:
        """The service's side is gone (or the instance is being let go): the last partial line is
        flushed, and every attached client is disconnected."""
        if self.closed:
            return
        self.closed = True
        self._closed.set()
        if self._loop is not None:
            self._loop.remove_reader(self.master)
            self._loop.remove_writer(self.master)
        else:
            os.close(self.slave)
        os.close(self.master)
        self.sink.close()
        for callback in self.on_close:
            callback()
        for client in self.clients:
            client.close()
        self.clients.clear()
