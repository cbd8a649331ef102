"""A burst of clients: 300 control requests (status, ports' /status, logs) at the same instant, while the
supervisor is not accepting (stopped with SIGSTOP for a moment, as a busy machine would delay it). The
listen backlog holds them and a client whose connection is refused (EAGAIN) tries again briefly: every
one is answered, none says the stack does not answer."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from helpers.stack import Stack, write_config

from devstack.control.client import request
from devstack.errors import DevstackError

from .kit import control_socket, wait_no_survivors

CLIENTS = 300


def test_a_burst_of_clients_is_answered(project: Path) -> None:
    write_config(project, {"a": {"cmd": "echo hello; sleep 60", "port": False}})
    with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
        stack.wait_for_line(r"a\s+\| hello")
        control_socket(project)
        state = project / ".devstack"
        errors: list[str] = []
        answered: list[int] = []
        go = threading.Event()

        def client(i: int) -> None:
            go.wait()
            try:
                if i % 3 == 0:
                    request(state, "GET", "/status")
                else:
                    request(state, "GET", "/logs", params={"n": 1, "name": ["a"]})
                answered.append(i)
            except DevstackError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        stack.send(signal.SIGSTOP)
        try:
            go.set()
            time.sleep(0.5)  # every client has tried to connect while nothing accepts
        finally:
            stack.send(signal.SIGCONT)
        for t in threads:
            t.join(30)
        assert not errors, f"{len(errors)} of {CLIENTS} failed, e.g. {errors[:3]}"
        assert len(answered) == CLIENTS
        stack.send(signal.SIGINT)
        assert stack.wait(timeout=15) == 130
    assert "Traceback" not in stack.output + stack.stderr
    wait_no_survivors([], timeout=5)
