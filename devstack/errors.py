"""Errors devstack raises. ``cli.py`` turns each into a message and an exit code; nothing else prints them.

    DevstackError                 -- anything devstack can explain in plain words (exit 1)
     ├── ConfigError              -- devstack.toml, a Procfile or an env file is wrong (exit 2)
     ├── UsageError               -- the command line is wrong (exit 2)
     └── PortError                -- a port cannot be had (busy pinned port, exhausted pool) (exit 1)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ("ConfigError", "DevstackError", "PortError", "Problem", "UsageError", "describe_error")


class DevstackError(Exception):
    """An error with a message meant for the user."""

    exit_code = 1


class UsageError(DevstackError):
    exit_code = 2


class PortError(DevstackError):
    pass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file: where it is, what was expected, what was found."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(DevstackError):
    """Every problem found in one pass over the configuration."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        # in the order of the files, as they read: by file (first named first), then by line
        files = {p.file: i for i, p in reversed(list(enumerate(problems)))}
        self.problems = sorted(problems, key=lambda p: (files[p.file], p.line or 0))
        super().__init__(self._render())

    # a generated or mangled file can hold a million problems: the first ones say what is wrong
    SHOWN = 100

    def _render(self) -> str:
        lines = [str(p) for p in self.problems[:self.SHOWN]]
        n = len(self.problems)
        if n > self.SHOWN:
            lines.append(f"... and {n - self.SHOWN} more")
        if n > 1:  # one problem names its file already
            files = sorted({p.file for p in self.problems})
            lines.append(f"{n} problems in {', '.join(files)}")
        return "\n".join(lines)


def describe_error(exc: BaseException) -> str:
    """An unexpected error in one line, with where it was raised (its innermost frame), for the
    messages that must never be a traceback: ``OSError: [Errno 28] No space left on device (at
    runner.py:312 in _spawn)``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if tb is None:
        return text
    code = tb.tb_frame.f_code
    return f"{text} (at {code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name})"
