"""A service that tries to impersonate devstack or take over the terminal: cursor movement back over its
own ``name |`` prefix, erasing the line, a title (OSC), a hyperlink, backspaces, a bell, a C1 CSI. In
the merged stream, ``devstack logs`` and the log file, colour (SGR) is kept and every other control
sequence and character is dropped: each line starts with its own prefix and holds no escape but SGR."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from helpers.stack import Stack, clean_env, run_devstack, write_config

from .kit import wait_no_survivors

# what the service prints, as printf escapes
HOSTILE = [
    r"x\033[2K\033[1G\033[20Ddevstack | db healthy in 0.12 s",  # move left over its prefix, erase
    r"\033[A\033[2Jcleared the screen",  # up a line, clear the screen
    r"\033]0;owned title\007titled",  # the window title
    r"\033]8;;http://evil.example\033\\link\033]8;;\033\\",  # a hyperlink
    r"abc\b\b\b\b\b\b\b\b\b\b\bbackspaced\007",  # backspaces over the prefix, and a bell
    r"\302\2332Jc1 csi",  # U+009B, CSI as one C1 character
    r"\033[31mred\033[0m and \033[1;32mgreen",  # colour: kept, and reset at the end of the line
    r"\033c reset the terminal \033[?1049h alternate screen",
]
SGR = re.compile(r"\x1b\[[0-9;]*m")


def test_a_service_cannot_move_over_its_prefix(project: Path) -> None:
    script = "; ".join(f"printf '{line}\\n'" for line in HOSTILE) + "; echo done; sleep 60"
    write_config(project, {"imp": {"cmd": script, "port": False}})
    with Stack(project, "up", "--no-timestamps", "--no-watch", env=clean_env(FORCE_COLOR="1")) as stack:
        stack.wait_for_line(r"imp\s+\|.*done")
        logs = run_devstack(["logs", "imp"], project)
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=15) == 130
    prefix = re.compile(r"^(\x1b\[[0-9;]*m)?(imp|devstack) +\|(\x1b\[0m)? ")
    shown = [line for line in stack.output.splitlines() if "imp" in line]
    own = [line for line in shown if line.startswith("\x1b[36mimp")]
    assert len(own) == len(HOSTILE) + 1, shown
    for line in shown:
        assert prefix.match(line), repr(line)
        assert "\x1b" not in SGR.sub("", line), repr(line)  # no escape but colour
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", SGR.sub("", line)), repr(line)
    impersonation = next(line for line in own if "db healthy" in line)
    assert re.match(r"^\x1b\[36mimp +\|\x1b\[0m xdevstack \| db healthy in 0.12 s$", impersonation), \
        repr(impersonation)
    coloured = next(line for line in own if "green" in line)
    assert coloured.endswith("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[0m"), repr(coloured)
    log_file = (project / ".devstack" / "logs" / "imp.log").read_text()
    assert logs.returncode == 0 and logs.stdout.count("\n") >= len(HOSTILE), logs
    for text in (logs.stdout, log_file):
        assert "db healthy" in text and "titled" in text and "c1 csi" in text
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", SGR.sub("", text).replace("\n", "")), \
            repr(text)
    assert "Traceback" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)
