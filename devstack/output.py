"""Everything a user sees of a running stack goes through one ``Printer``: the services' lines and
devstack's own messages, merged into one stream, plus a log file per service.

Output is handled in chunks, not line by line: a chunk is cut at its last newline, decoded once
(invalid UTF-8 replaced), prefixed with one ``str.replace`` and written with one ``write``. That keeps
devstack close to the speed of writing straight to a file, and since only the event loop's thread
writes, whole lines are written at a time and two services' lines never tear each other.
Memory is bounded: a partial line is held until its newline arrives or it reaches ``MAX_LINE`` bytes,
when it is written as a piece marked ``[line split]`` and the rest follows marked ``[continued]``.
Carriage returns are applied as a terminal would (a progress bar shows its last state), so they can
never overwrite the prefix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path

from .files import StateError, describe, private_dir
from .logbuffer import LogBuffer
from .sanitize import clean, may_need_cleaning

__all__ = ("MAX_LINE", "LineSink", "Printer", "use_colour")

MAX_LINE = 64 * 1024
LOG_ROTATE_BYTES = 64 * 1024 * 1024
SPLIT_MARK = " [line split]"
CONTINUED_MARK = "[continued] "
SELF_NAME = "devstack"

# honcho's palette, in honcho's order
_COLOURS = ("36", "33", "32", "35", "31", "34", "96", "93", "92", "95", "91", "94")
_RESET = "\x1b[0m"


def use_colour(fd: int, no_colour_flag: bool = False) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if no_colour_flag or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return os.isatty(fd)


class _Clock:
    """``HH:MM:SS`` and an ISO stamp, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self.short = ""
        self.iso = ""

    def tick(self) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            local = time.localtime(now)
            self.short = time.strftime("%H:%M:%S", local)
            self.iso = time.strftime("%Y-%m-%dT%H:%M:%S", local)


class Printer:
    """The merged stream (to ``fd``, normally stdout) and the per-service log files."""

    def __init__(self, names: list[str], *, fd: int = 1, colour: bool = False,
                 timestamps: bool = True, log_dir: Path | None = None) -> None:
        self.fd = fd
        self.colour = colour
        self.timestamps = timestamps
        self.width = max([len(SELF_NAME), *(len(n) for n in names)])
        self.clock = _Clock()
        self.log_dir = log_dir
        self._broken = False
        self._log_fds: dict[str, int] = {}
        self.buffer = LogBuffer()
        self._status = b""
        self.live = colour and os.isatty(fd)  # a live status line only where it can be redrawn
        self._log_sizes: dict[str, int] = {}
        self._dropped: set[str] = set()  # services whose log file could not be written: not tried again
        self._lost = 0  # bytes the merged stream could not take (a full disk under up -d), said once
        self._lost_why = ""
        self._colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}
        if log_dir is not None:
            private_dir(log_dir)

    def _prefix(self, name: str, colour: str | None) -> str:
        label = f"{name:<{self.width}} |"
        if self.colour and colour:
            label = f"\x1b[{colour}m{label}{_RESET}"
        if self.timestamps:
            stamp = self.clock.short
            label = f"\x1b[2m{stamp}{_RESET} {label}" if self.colour else f"{stamp} {label}"
        return label + " "

    def write(self, data: bytes) -> None:
        """Write to the merged stream. A reader that went away (a closed pipe) stops the stream, never
        the stack: the log files still get everything."""
        if self._broken:
            return
        if self._lost:  # what could not be written is said once the stream takes writes again
            lost, self._lost = self._lost, 0
            self.clock.tick()
            note = f"{lost} bytes of output were lost ({self._lost_why}); the log files may still have them"
            data = (self._prefix(SELF_NAME, "1;31") + note + "\n").encode() + data
        if self._status:  # the live status line stays below the output: clear it, write, draw it again
            data = b"\r\x1b[K" + data + self._status
        self._write(data)

    def after_echo(self) -> None:
        """After Ctrl-C: a terminal has echoed ``^C`` where its cursor was; the next line starts below
        it instead of after it (on a terminal only; a live status line is redrawn over anyway)."""
        if not self._status and not self._broken and os.isatty(self.fd):
            self._write(b"\n")

    def set_status(self, text: str | None) -> None:
        """A live line under the output (a terminal only): who is waiting on what. None clears it."""
        if not self.live:
            return
        line = f"\x1b[2m{text[: self._columns() - 1]}\x1b[0m".encode() if text else b""
        if line == self._status:
            return
        self._status = line
        self._write(b"\r\x1b[K" + line)

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.fd).columns
        except OSError:
            return 80

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except BrokenPipeError:
            self._broken = True
        except BlockingIOError:  # a non-blocking terminal: fall back to waiting for it
            os.set_blocking(self.fd, True)
            self._write(bytes(view))
        except OSError as exc:  # a full disk (up -d writes to a file): drop it, never stop the stack for it
            self._lost += len(view)
            self._lost_why = exc.strerror or str(exc)

    def sink(self, name: str) -> LineSink:
        return LineSink(self, name)

    def event(self, message: str, service: str | None = None, *, error: bool = False) -> None:
        """One of devstack's own messages, under the name ``devstack``; ``service`` names whose log
        (its file, and the recent lines ``devstack logs`` reads) gets a copy."""
        self.clock.tick()
        message = clean(message)  # it may quote a service's command, a file name, a probe's answer
        colour = "1;31" if error else "1"
        prefix = self._prefix(SELF_NAME, colour)
        # a message may span lines (a multi-line cmd): each one gets the prefix, as service lines do
        self.write((prefix + message.replace("\n", "\n" + prefix) + "\n").encode())
        if service is not None:  # the service's log and `devstack logs` get it as "devstack: ..."
            self.buffer.add(service, f"{SELF_NAME}: " + message.replace("\n", f"\n{SELF_NAME}: "))
            stamp = f"{self.clock.iso} {SELF_NAME}: "
            self.log(service, (stamp + message.replace("\n", "\n" + stamp) + "\n").encode())

    def log(self, name: str, data: bytes) -> None:
        """Append to the service's log file. A log that cannot be written (a full disk) is said once and
        dropped: the stream and the stack go on without it."""
        if self.log_dir is None or name in self._dropped:
            return
        path = self.log_dir / f"{name}.log"
        try:
            fd = self._log_fds.get(name)
            if fd is None:
                fd = self._open_log(name, path)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            self._log_sizes[name] += len(data)
            if self._log_sizes[name] > LOG_ROTATE_BYTES:
                del self._log_fds[name]
                os.close(fd)
                os.replace(path, path.with_suffix(".log.1"))
                self._open_log(name, path)
        except (OSError, StateError) as exc:
            self._drop_log(name, path, exc)

    def _drop_log(self, name: str, path: Path, exc: Exception) -> None:
        self._dropped.add(name)
        fd = self._log_fds.pop(name, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self.event(f"cannot write {path} ({why}): {name}'s output goes on here and in devstack logs, "
                   f"but no longer into that file", name, error=True)

    def _open_log(self, name: str, path: Path) -> int:
        """Open (or create, 0600) the log: never through a symbolic link, and only a regular file. Whatever
        else has its name (a link a repository committed, a named pipe) is removed, with a line saying so."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fd = -1
        if fd >= 0 and not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            fd = -1
        replaced = None
        if fd < 0:
            replaced = self._replace_log(path)
            fd = os.open(path, flags | os.O_EXCL, 0o600)
        os.set_blocking(fd, True)
        self._log_fds[name] = fd
        self._log_sizes[name] = os.fstat(fd).st_size
        if replaced is not None:
            self.event(replaced, name, error=True)
        return fd

    @staticmethod
    def _replace_log(path: Path) -> str:
        """Remove what is at a log's path and is not a regular file (a directory is left alone)."""
        st = os.lstat(path)
        what = describe(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            raise StateError(f"{path} is a directory, not a log file: remove it")
        if stat.S_ISLNK(st.st_mode):
            what += f" (to {os.readlink(path)})"
        path.unlink()  # never follows: a link goes, what it points to stays as it was
        return f"{path} was {what}, not a log file: devstack never writes through one; a new log replaces it"

    def start_log(self, name: str) -> None:
        """A new run starts a new log file; the previous one is kept as NAME.log.1 (a log that is not a
        regular file is not kept: it is replaced when the log is opened)."""
        self._dropped.discard(name)
        if self.log_dir is None:
            return
        path = self.log_dir / f"{name}.log"
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.replace(path, path.with_suffix(".log.1"))
        except OSError:
            pass  # none yet; or it cannot be moved, and opening it says why

    def reopen_logs(self) -> None:
        """Log files were removed under the stack: the next lines go into new ones."""
        self.close()
        self._dropped.clear()
        if self.log_dir is not None:
            private_dir(self.log_dir)

    def close(self) -> None:
        for fd in self._log_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log_fds.clear()


class LineSink:
    """Turns one service's output chunks into prefixed lines."""

    def __init__(self, printer: Printer, name: str) -> None:
        self.printer = printer
        self.name = name
        self._rest = b""
        self._continued = False

    def feed(self, data: bytes) -> None:
        buf = self._rest + data if self._rest else data
        end = buf.rfind(b"\n")
        if end >= 0:
            self._emit(buf[:end])
            buf = buf[end + 1:]
        while len(buf) > MAX_LINE:
            cut = _utf8_boundary(buf, MAX_LINE)
            self._emit_piece(buf[:cut])
            buf = buf[cut:]
        self._rest = buf

    def close(self) -> None:
        """The stream ended: a last line without a newline is still a line."""
        if self._rest:
            self._emit(self._rest)
            self._rest = b""

    def _emit(self, block: bytes) -> None:
        """``block`` is one or more whole lines, without the final newline."""
        if len(block) > MAX_LINE and max(map(len, block.split(b"\n"))) > MAX_LINE:
            for line in block.split(b"\n"):
                while len(line) > MAX_LINE:
                    cut = _utf8_boundary(line, MAX_LINE)
                    self._emit_piece(line[:cut])
                    line = line[cut:]
                self._write(line)
            return
        self._write(block)

    def _emit_piece(self, piece: bytes) -> None:
        self._write(piece, split=True)

    def _write(self, block: bytes, split: bool = False) -> None:
        p = self.printer
        p.clock.tick()
        text = block.decode("utf-8", "replace")
        if "\r" in text:
            text = _carriage_returns(text.replace("\r\n", "\n"))
        if may_need_cleaning(block):  # colour stays; no cursor movement or control character stays
            text = clean(text)
        if self._continued:
            text = CONTINUED_MARK + text
        self._continued = split
        if split:
            text += SPLIT_MARK
        prefix = p._prefix(self.name, p._colours.get(self.name))
        p.write((prefix + text.replace("\n", "\n" + prefix) + "\n").encode())
        p.buffer.add(self.name, text)
        if p.log_dir is not None:
            stamp = p.clock.iso + " "
            p.log(self.name, (stamp + text.replace("\n", "\n" + stamp) + "\n").encode())


_ERASE_TO_END = ("\x1b[K", "\x1b[0K", "\x1b[2K")


def _carriage_returns(text: str) -> str:
    """Each line as a terminal would leave it: a lone ``\r`` (a progress bar redrawing itself) returns to
    the start of the line and what follows overwrites what was there. Without this, the redrawn text
    would overwrite the ``name |`` prefix on a terminal and pile up in the log files."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\r" in line:
            shown = ""
            for part in line.split("\r"):
                erases = any(code in part for code in _ERASE_TO_END)
                shown = part if erases or len(part) >= len(shown) else part + shown[len(part):]
            lines[i] = shown
    return "\n".join(lines)


def _utf8_boundary(data: bytes, limit: int) -> int:
    """The largest cut at or below ``limit`` that does not split a UTF-8 sequence."""
    cut = limit
    while cut > limit - 4 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > limit - 4 else limit
