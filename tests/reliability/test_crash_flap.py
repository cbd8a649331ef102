"""Crash loops and flapping health: while one service crash-loops and another flips between healthy
and unhealthy, the control API keeps answering within 500 ms, and the backoff still
doubles (every restart kept its delay)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import tomli_w
from conftest import python
from helpers.restarts import announced_delays, assert_delays_kept, start_times
from helpers.stack import Stack

from devstack.control.client import control_client

from .kit import control_socket, reps

# healthy for ~0.3 s, unhealthy for ~0.3 s, and so on
FLAPPER = python("""
import http.server, os, time
began = time.monotonic()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if int((time.monotonic() - began) / 0.3) % 2 == 0 else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
print('ready pid=%d' % os.getpid(), flush=True)
http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
""")


def test_control_api_answers_quickly_through_crash_loops_and_flapping(project: Path) -> None:
    for attempt in range(reps(1, 5)):
        (project / "devstack.toml").write_text(tomli_w.dumps({
            "devstack": {"restart_backoff": "100ms", "restart_backoff_max": "10s"},
            "services": {
                "crash": {"cmd": 'echo "t=$(date +%s.%N)"; exit 3', "port": False, "max_restarts": 5},
                "flap": {"cmd": FLAPPER, "restart": "no",
                         "health": {"http": "/", "interval": "50ms", "start_interval": "50ms", "retries": 1,
                                    "timeout": "1s"}},
            }}))
        with Stack(project, "up", "--no-timestamps", "--no-watch") as stack:
            stack.pids(1)
            control_socket(project)
            slowest = 0.0
            with control_client(project / ".devstack") as client:
                while "crash given up" not in stack.output:
                    began = time.monotonic()
                    resp = client.get("/status")
                    slowest = max(slowest, time.monotonic() - began)
                    assert resp.status_code == 200
                    assert stack.proc.poll() is None, stack.output
                    assert time.monotonic() - began < 30
            flips = stack.output.count("flap unhealthy") + stack.output.count("flap healthy again")
            stack.send(signal.SIGTERM)
            assert stack.wait() == 143
        assert slowest < 0.5, f"attempt {attempt}: the slowest answer took {slowest:.3f} s"
        assert flips >= 4, stack.output  # it really flapped while we asked
        assert len(start_times(stack.output, "crash")) == 6, stack.output
        assert announced_delays(stack.output, "crash") == [0.1, 0.2, 0.4, 0.8, 1.6], stack.output
        assert_delays_kept(stack.output, "crash")
