"""The ``devstack`` command's entry point, kept apart from ``cli`` so that it runs before any of the
command's modules is imported: a Ctrl-C at any moment, even in the middle of an import in the first
tens of milliseconds, ends the command with exit 130 and one line, never a ``KeyboardInterrupt``
traceback. (Before the interpreter itself is up, SIGINT ends the process as the default action does:
the shell shows 130 and nothing is printed.)"""

# only modules built into the interpreter (and already loaded), so that nothing here can be half-imported
# when a Ctrl-C arrives: ``signal`` itself builds enums in Python, ``_signal`` is its C core
import _signal  # type: ignore[import-not-found]  # (typeshed has no stub for the C core)
import sys

__all__ = ("INTERRUPTED", "interrupted", "interrupted_early", "main")

INTERRUPTED = "devstack: interrupted"

_early = False  # a Ctrl-C arrived before the supervisor took the signal over


def _on_sigint(signum: int, frame: object) -> None:
    # Remembered as well as raised: CPython drops an exception raised inside some of its own callbacks
    # (an import lock's weakref callback prints "Exception ignored in ... cb"), and a library's bare
    # ``except:`` around an import does the same. The flag makes such a lost Ctrl-C count all the same.
    global _early
    _early = True
    raise KeyboardInterrupt


def interrupted_early() -> bool:
    """Did a Ctrl-C arrive while devstack was starting, even one that was swallowed on the way?"""
    return _early


def interrupted() -> int:
    """Say so, in one line, and give the shell's code for Ctrl-C. A further Ctrl-C while devstack is on
    its way out is ignored: nothing is left to stop, and it would only print a traceback."""
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    print(INTERRUPTED, file=sys.stderr)
    return 130


def main() -> int:
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:  # not where SIGINT is ignored
        _signal.signal(_signal.SIGINT, _on_sigint)
    try:
        from .cli import main as cli

        if _early:  # raised where it was swallowed: the imports went on, the user still asked to stop
            return interrupted()
        return cli()
    except KeyboardInterrupt:  # while cli and what it needs were still being imported
        return interrupted()
