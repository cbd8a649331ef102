"""What of a service's output may reach the terminal: text, tabs and colour (SGR, ``ESC [ ... m``),
nothing else. Every other control sequence (cursor movement, erasing, titles, hyperlinks, modes) and
every other control character is dropped, so that a service cannot move the cursor back over its own
``name |`` prefix and write ``devstack | db healthy`` in its place, clear the screen, or leave the
terminal in a strange mode. A line that sets a colour is reset at its end, so that the colour cannot
run into the next line's prefix, another service's lines or devstack's.

Output without any control character costs one pass of ``bytes.translate`` (``may_need_cleaning``)."""

from __future__ import annotations

import re

__all__ = ("clean", "may_need_cleaning")

# the C0 controls but tab and newline, and DEL, as bytes; C1 controls are U+0080-U+009F, \xc2\x80-\x9f
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])


def may_need_cleaning(raw: bytes) -> bool:
    """False when ``raw`` (UTF-8) holds no control character at all: ``clean`` would return its text as
    it is. Checked on the bytes with ``translate`` (several hundred MB/s, a regex over text is a few
    times slower), so that plain output stays as fast as it was."""
    return len(raw.translate(None, _CONTROL_BYTES)) != len(raw) or b"\xc2" in raw

_ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# a control character that is not the start of a colour sequence: tab and newline are text
_UNSAFE = re.compile(r"\x1b(?!\[[0-9;:]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC [ parameters intermediates final (SGR when it is "m")
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI, as its C1 character
    r"|(?:\x1b[]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # any other escape sequence (or a lone ESC)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # a control character on its own
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_RESET = "\x1b[0m"


def _keep_sgr(m: re.Match[str]) -> str:
    seq = m.group()
    return seq if _SGR.fullmatch(seq) else ""


def clean(text: str) -> str:
    """``text`` (lines joined by ``\\n``) with colour kept and every other control dropped, and each
    line that sets a colour reset at its end."""
    if _ANY_CONTROL.search(text) is None:  # nearly all output: one scan of a character class
        return text
    if _UNSAFE.search(text) is not None:
        text = _SEQUENCE.sub(_keep_sgr, text)
    if "\x1b" in text:
        text = _COLOURED_LINE.sub(_reset_at_end, text)
    return text


_COLOURED_LINE = re.compile(r"^[^\n]*\x1b[^\n]*$", re.MULTILINE)  # anchored: linear in the text


def _reset_at_end(m: re.Match[str]) -> str:
    line = m.group()
    return line if line.endswith(_RESET) else line + _RESET
