"""How devstack words what a user wrote, in its messages: a value as TOML writes it, and a "did you mean"
for a name or a word that is close to one it knows.

    >>> quote("5 seconds")
    '"5 seconds"'
    >>> did_you_mean("databse", ["api", "database"])
    '; did you mean "database"?'
    >>> did_you_mean("never", ["no", "on-failure", "always"], aliases={"never": "no"})
    '; did you mean "no"?'
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping

__all__ = ("closest", "did_you_mean", "quote")


def quote(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's): ``"api"``, never Python's ``'api'``."""
    return json.dumps(text, ensure_ascii=False)


def closest(word: str, known: Iterable[str], aliases: Mapping[str, str] | None = None) -> str | None:
    """The known word ``word`` most likely stands for: an alias (another tool's spelling), a different
    case, or a close spelling."""
    known = list(known)
    if aliases and word.lower() in aliases:
        return aliases[word.lower()]
    by_case = {k.lower(): k for k in known}
    if word.lower() in by_case:
        return by_case[word.lower()]
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """``'; did you mean "db"?'`` when a known word is close to ``word``, else ``""``."""
    guess = closest(word, known, aliases)
    return f"; did you mean {quote(guess)}?" if guess is not None and guess != word else ""
