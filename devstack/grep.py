"""``devstack logs --grep``: a regular expression matched in linear time (RE2), whatever the pattern.

Python's ``re`` backtracks: ``(a+)+$`` against a long line of ``a`` takes exponential time, and inside
the supervisor that would block its event loop (no ``status``, no Ctrl-C). RE2 has no backtracking, so
matching costs time linear in the text for every pattern; what it cannot do in linear time
(backreferences, lookaround) it refuses at compile time, and that is said as an invalid pattern."""

from __future__ import annotations

from typing import Protocol

import re2

__all__ = ("Matcher", "compile_grep")


class Matcher(Protocol):
    def search(self, text: str) -> object: ...


def compile_grep(pattern: str) -> Matcher:
    """The compiled pattern; ValueError with RE2's reason when it is not one RE2 takes."""
    options = re2.Options()
    options.log_errors = False  # else RE2 writes its own copy of the error to stderr
    try:
        matcher: Matcher = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"{reason} (RE2 syntax: no backreferences or lookaround)") from None
    return matcher
