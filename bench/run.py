"""devstack side by side with honcho, supervisord, nodemon and the watchfiles CLI: one command.

    .venv/bin/python bench/run.py                      # the full benchmark (10-20 minutes), bench/RESULTS.md
    .venv/bin/python bench/run.py --quick              # under 2 minutes; what CI runs
    .venv/bin/python bench/run.py --quick --only devstack --output /tmp/r.md   # devstack alone (~40 s)
    .venv/bin/python bench/run.py --workloads W3,W4    # some workloads only

The peers are installed on first use into ``bench/.peers/`` (git-ignored): honcho, supervisor and
watchfiles from PyPI into ``bench/.peers/venv``, nodemon from npm into ``bench/.peers/node_modules``. A
peer that cannot be installed is skipped, with the reason in the results. Every tool runs the same
services (a stdlib HTTP server reading ``PORT``, or a line printer) on the same pinned loopback ports, in a
session of its own; its output goes to a file. Each measurement is repeated (``--runs``, default 5; the
tools take turns within a run) and reported as min / median / max, with devstack's median divided by the
tool's. The two baselines are not peers: ``bare`` (a 15-line launcher that starts the services with no
supervision) and ``file`` (the program writing straight to a file).

W1 startup    launch -> every one of 1, 10 and 50 servers answers GET / with 200.
W2 shutdown   SIGINT, and SIGTERM, to the supervisor's pid -> every process of the run is gone (10
              servers, one started as ``sh -c 'python server.py'``); survivors are counted (and killed).
W3 log        one service printing 500,000 lines of 80 bytes (``print`` per line, unbuffered): its own run
              time, from first to last write, under each supervisor (whose stdout is a file) and straight
              to a file; lines lost; then two services printing 250,000 lines each at once: torn lines.
W4 reload     write the file the server imports -> the new response body, 20 writes 1.2 s apart (devstack
              stops watching a service restarted more than 10 times in 10 s, taking it for a loop); then
              5 storms of 200 files: restarts per storm, and last write -> the last restarted server
              listening, once no restart came for 3 s.
W5 idle       CPU seconds and RSS (summed) of the supervisor side (the supervisor and its helpers, such
              as devstack's guardian and honcho's per-process workers, not the services) over 20 s: with
              10 servers, and watching a tree of 20,000 files.
W6 control    wall time of ``devstack ports`` and ``devstack status`` (and ``supervisorctl status``) on a
              20-service stack.

Exit status: 1 when a measurement is broken - a workload that cannot run, a line devstack lost or tore, a
process left behind by devstack (or by the bare launcher) - never because of a timing. What the peers lose
or leave behind is reported in the tables, not failed on. Everything listens on 127.0.0.1 only, every wait
has a deadline, and every process a tool started is found (by a token in its environment) and killed.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".peers"
PY = sys.executable
DEVSTACK = shutil.which("devstack", path=str(Path(sys.executable).parent)) or ""

SUPERVISORS = ("bare", "devstack", "honcho", "supervisord")  # W1, W2, W3, W5
WATCHERS = ("devstack", "nodemon", "watchfiles")  # W4, W5 (tree)
PEER_NAMES = ("honcho", "supervisord", "nodemon", "watchfiles")
TOKEN_VAR = "BENCH_TOKEN"

SERVER = '''\
"""A stdlib HTTP server on 127.0.0.1:$PORT answering GET with BODY from app.py (or "ok")."""
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from app import BODY
except ImportError:
    BODY = "ok"
DATA = BODY.encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the client closes first, so TIME_WAIT never holds the server's port

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
if os.environ.get("BENCH_STARTS"):
    with open(os.environ["BENCH_STARTS"], "a") as f:
        f.write(f"{os.getpid()} {time.monotonic()}\\n")
server.serve_forever()
'''

FLOOD = '''\
"""Print LINES lines of 80 bytes ("NNNNNNN " + 71 x LETTER), time it into TIMING, then hold if asked."""
import sys, time
lines, letter, timing, hold = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
payload = letter * 71
begin = time.monotonic()
for i in range(lines):
    print(f"{i:07d} {payload}")
elapsed = time.monotonic() - begin
with open(timing, "w") as f:
    f.write(repr(elapsed))
if hold:  # stay up (as a server would) until the supervisor stops it
    time.sleep(600)
'''

BARE = '''\
"""The bare launcher: start every service in a session of its own; on SIGINT/SIGTERM, SIGTERM them."""
import json, os, signal, subprocess, sys
spec = json.load(open(sys.argv[1]))
procs = [subprocess.Popen(s["argv"], cwd=s["cwd"], env={**os.environ, **s["env"]}, start_new_session=True)
         for s in spec]

def stop(signum, frame):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
for p in procs:
    p.wait()
'''


class Broken(Exception):
    """A measurement that could not be made."""


# -- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    runs: int
    w1_sizes: tuple[int, ...]
    w2_services: int
    w3_lines: int
    w4_writes: int
    w4_storms: int
    w4_files: int
    w4_quiet: float
    w5_services: int
    w5_seconds: float
    w5_files: int
    w6_services: int
    w6_calls: int


FULL = Plan(runs=5, w1_sizes=(1, 10, 50), w2_services=10, w3_lines=500_000, w4_writes=20, w4_storms=5,
            w4_files=200, w4_quiet=3.0, w5_services=10, w5_seconds=20.0, w5_files=20_000, w6_services=20,
            w6_calls=20)
QUICK = Plan(runs=1, w1_sizes=(1, 5), w2_services=4, w3_lines=50_000, w4_writes=3, w4_storms=1,
             w4_files=50, w4_quiet=1.0, w5_services=4, w5_seconds=2.0, w5_files=1_000, w6_services=5,
             w6_calls=3)


@dataclass
class Row:
    case: str
    tool: str
    values: list[float] = field(default_factory=list)
    unit: str = "s"
    notes: list[str] = field(default_factory=list)


@dataclass
class Service:
    name: str
    argv: list[str]
    port: int | None = None
    cwd: str = "."  # relative to the work directory
    env: dict[str, str] = field(default_factory=dict)
    watch: str | None = None  # a path relative to cwd, for the watchers


class Bench:
    def __init__(self, plan: Plan, tools: dict[str, Path | None], skipped: dict[str, str], root: Path):
        self.plan = plan
        self.tools = tools  # name -> executable (None for bare and file)
        self.skipped = skipped
        self.root = root
        self.rows: dict[str, list[Row]] = {}
        self.broken: list[str] = []
        self._base = 21000 + (os.getpid() % 70) * 100

    def row(self, workload: str, case: str, tool: str, unit: str = "s") -> Row:
        for r in self.rows.setdefault(workload, []):
            if r.case == case and r.tool == tool:
                return r
        r = Row(case, tool, unit=unit)
        self.rows[workload].append(r)
        return r

    def has(self, tool: str) -> bool:
        return tool in self.tools

    # -- ports ----------------------------------------------------------------------------------------

    def ports(self, n: int) -> list[int]:
        """n consecutive free ports, the same block as last time while it is free (so every tool of a
        run gets the same ports)."""
        for _ in range(30):
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                block = list(range(self._base, self._base + n))
                if all(_free(p) for p in block):
                    return block
                time.sleep(0.05)
            self._base = 20000 + (self._base - 20000 + 500) % 9000
        raise Broken(f"no block of {n} free ports in 20000-29999")

    # -- running a tool ------------------------------------------------------------------------------

    @contextmanager
    def running(self, tool: str, workdir: Path, services: list[Service], out: Path) -> Iterator[Running]:
        token = uuid.uuid4().hex
        env = _environment(self.root)
        env[TOKEN_VAR] = token
        argv = self._configure(tool, workdir, services)
        out.write_bytes(b"")
        with out.open("ab") as sink:  # O_APPEND: a tool that reopens /dev/stdout appends too
            began = time.monotonic()
            proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        handle = Running(tool, proc, token, began)
        try:
            yield handle
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            handle.survivors = sweep(token)
            if handle.survivors and tool in ("devstack", "bare"):
                self.broken.append(f"{tool} left processes running: {handle.survivors}")

    def _configure(self, tool: str, workdir: Path, services: list[Service]) -> list[str]:
        exe = str(self.tools[tool]) if self.tools.get(tool) else ""
        if tool == "bare":
            spec = [{"argv": s.argv, "cwd": str(workdir / s.cwd), "env": _service_env(s)} for s in services]
            (workdir / "bare.json").write_text(json.dumps(spec))
            (workdir / "bare.py").write_text(BARE)
            return [PY, "bare.py", "bare.json"]
        if tool == "devstack":
            lines = []
            for s in services:
                lines.append(f"[services.{s.name}]")
                lines.append(f"cmd = {json.dumps(s.argv)}")
                lines.append(f'cwd = "{s.cwd}"')
                lines.append(f"port = {s.port if s.port is not None else 'false'}")
                if s.env:
                    lines.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in s.env.items())
                                 + " }")
                if s.watch is not None:
                    lines.append(f"watch = [{json.dumps(s.watch)}]")
                if s.port is None:
                    lines.append('restart = "no"')
                lines.append("")
            (workdir / "devstack.toml").write_text("\n".join(lines))
            return [exe, "up", "--no-color"]
        if tool == "honcho":
            procfile = []
            for s in services:
                assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in _service_env(s).items())
                procfile.append(f"{s.name}: cd {shlex.quote(s.cwd)} && {assigns} {shlex.join(s.argv)}")
            (workdir / "Procfile").write_text("\n".join(procfile) + "\n")
            return [exe, "start"]
        if tool == "supervisord":
            conf = textwrap.dedent(f"""\
                [supervisord]
                nodaemon = true
                logfile = {workdir}/supervisord.log
                pidfile = {workdir}/supervisord.pid
                childlogdir = {workdir}

                [unix_http_server]
                file = {workdir}/supervisor.sock

                [rpcinterface:supervisor]
                supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

                [supervisorctl]
                serverurl = unix://{workdir}/supervisor.sock
                """)
            for s in services:
                env = ",".join(f'{k}="{v}"' for k, v in _service_env(s).items())
                conf += textwrap.dedent(f"""
                    [program:{s.name}]
                    command = {shlex.join(s.argv)}
                    directory = {workdir / s.cwd}
                    environment = {env}
                    stdout_logfile = /dev/stdout
                    stdout_logfile_maxbytes = 0
                    redirect_stderr = true
                    """)
            (workdir / "supervisord.conf").write_text(conf)
            return [exe, "-n", "-c", str(workdir / "supervisord.conf")]
        (s,) = services  # the watchers run one command
        env_argv = ["env", *(f"{k}={v}" for k, v in _service_env(s).items())]
        cwd, watched = workdir / s.cwd, str(workdir / s.cwd / (s.watch or "."))
        command = f"cd {shlex.quote(str(cwd))} && exec {shlex.join(env_argv + s.argv)}"
        if tool == "nodemon":  # runs --exec through sh -c itself
            return [exe, "--watch", watched, "-e", "py", "--exec", command]
        if tool == "watchfiles":
            return [exe, "--target-type", "command", shlex.join(["sh", "-c", command]), watched]
        raise AssertionError(tool)


@dataclass
class Running:
    tool: str
    proc: subprocess.Popen[bytes]
    token: str
    began: float
    survivors: list[str] = field(default_factory=list)

    def supervisor_side(self) -> list[psutil.Process]:
        """The supervisor and its helpers: its process tree less the services (whose command line runs
        server.py or flood.py)."""
        try:
            top = psutil.Process(self.proc.pid)
            tree = [top, *top.children(recursive=True)]
        except psutil.Error:
            return []
        side = []
        for p in tree:
            with suppress(psutil.Error):
                if not _is_service(p.cmdline()):
                    side.append(p)
        return side


def _is_service(cmdline: list[str]) -> bool:
    """A service, or the shell a tool runs it through (honcho's and nodemon's ``sh -c``)."""
    if any(a in ("server.py", "flood.py") for a in cmdline):
        return True
    shell = len(cmdline) >= 3 and Path(cmdline[0]).name in ("sh", "bash", "dash") and cmdline[1] == "-c"
    return shell and ("server.py" in cmdline[2] or "flood.py" in cmdline[2])


def _free(port: int) -> bool:
    hosts = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")]
    if socket.has_ipv6:
        hosts.append((socket.AF_INET6, "::1"))
    for family, host in hosts:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((host, port))
        except OSError as e:
            if family == socket.AF_INET6 and e.errno in (99, 97):  # no IPv6 loopback here
                continue
            return False
    return True


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DEVSTACK_SERVICE", "DEVSTACK_RUN", "FORCE_COLOR", "PORT")}
    env["PYTHONUNBUFFERED"] = "1"  # as devstack sets it for its services; given to every tool alike
    env["NO_COLOR"] = "1"
    env["XDG_STATE_HOME"] = str(root / "xdg-state")  # devstack's port leases stay in the bench
    return env


def _service_env(s: Service) -> dict[str, str]:
    return ({"PORT": str(s.port)} if s.port is not None else {}) | s.env


def sweep(token: str, grace: float = 3.0) -> list[str]:
    """Every live process carrying the token, after up to ``grace`` seconds for it to go: killed, and
    described."""
    deadline = time.monotonic() + grace
    while True:
        found = []
        for p in psutil.process_iter(["pid"]):
            with suppress(psutil.Error, OSError):
                if p.pid != os.getpid() and p.environ().get(TOKEN_VAR) == token \
                        and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    described = []
    for p in found:
        with suppress(psutil.Error):
            described.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
            p.kill()
    return described


def http_get(port: int, timeout: float = 1.0) -> tuple[int, bytes] | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_http(ports: list[int], running: Running, deadline: float, body: bytes | None = None) -> float:
    """Poll until every port answers 200 (with ``body``, if given); the time it happened."""
    pending = list(ports)
    while True:
        pending = [p for p in pending if not _answers(p, body)]
        now = time.monotonic()
        if not pending:
            return now
        if running.proc.poll() is not None:
            raise Broken(f"{running.tool} exited ({running.proc.returncode}) before {pending} answered")
        if now > deadline:
            what = f" {body!r}" if body else ""
            raise Broken(f"{running.tool}: ports {pending[:5]} did not answer{what}")
        time.sleep(0.005)


def _answers(port: int, body: bytes | None) -> bool:
    got = http_get(port)
    return got is not None and got[0] == 200 and (body is None or got[1] == body)


def _interleave(bench: Bench, tools: tuple[str, ...]) -> list[str]:
    return [t for t in tools if bench.has(t)]


def _server(workdir: Path) -> None:
    (workdir / "server.py").write_text(SERVER)


# -- W1 startup -----------------------------------------------------------------------------------------


def w1_startup(bench: Bench, workdir: Path) -> None:
    _server(workdir)
    for n in bench.plan.w1_sizes:
        for _ in range(bench.plan.runs):
            for tool in _interleave(bench, SUPERVISORS):
                ports = bench.ports(n)
                services = [Service(f"s{i}", [PY, "server.py"], p) for i, p in enumerate(ports)]
                with bench.running(tool, workdir, services, workdir / f"{tool}.out") as run:
                    ready = wait_http(ports, run, time.monotonic() + 60)
                bench.row("W1", f"{n} service{'s' * (n > 1)}", tool).values.append(ready - run.began)


# -- W2 shutdown ----------------------------------------------------------------------------------------


def w2_shutdown(bench: Bench, workdir: Path) -> None:
    _server(workdir)
    n = bench.plan.w2_services
    for sig in (signal.SIGINT, signal.SIGTERM):
        for _ in range(bench.plan.runs):
            for tool in _interleave(bench, SUPERVISORS):
                ports = bench.ports(n)
                services = [Service(f"s{i}", [PY, "server.py"], p) for i, p in enumerate(ports)]
                services[-1].argv = ["sh", "-c", f"{shlex.quote(PY)} server.py"]
                row = bench.row("W2", f"{sig.name}, {n} services", tool)
                with bench.running(tool, workdir, services, workdir / f"{tool}.out") as run:
                    wait_http(ports, run, time.monotonic() + 60)
                    time.sleep(0.3)
                    top = psutil.Process(run.proc.pid)
                    pids = [p for p in top.children(recursive=True)]
                    began = time.monotonic()
                    os.kill(run.proc.pid, sig)
                    gone = _wait_gone(run, pids, began + 20)
                    if gone is None:
                        run.proc.kill()
                if gone is not None:
                    row.values.append(gone - began)
                if run.survivors or gone is None:
                    row.notes.append(f"{len(run.survivors)} survivor(s): {'; '.join(run.survivors)[:160]}")


def _wait_gone(run: Running, pids: list[psutil.Process], deadline: float) -> float | None:
    """When every process is gone; None if some outlive the deadline, or the supervisor by 2 s."""
    exited = None
    while True:
        alive = [p for p in pids if _alive(p)]
        if run.proc.poll() is not None:
            if not alive:
                return time.monotonic()
            exited = exited or time.monotonic()
        if time.monotonic() > deadline or (exited and time.monotonic() - exited > 2):
            return None
        time.sleep(0.005)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# -- W3 log throughput ----------------------------------------------------------------------------------


def w3_logs(bench: Bench, workdir: Path) -> None:
    (workdir / "flood.py").write_text(FLOOD)
    lines = bench.plan.w3_lines
    single = f"1 service x {lines:,} lines"
    dual = f"2 services x {lines // 2:,} lines at once"
    for _ in range(bench.plan.runs):
        timing = workdir / "t.x"
        timing.unlink(missing_ok=True)
        with (workdir / "file.out").open("wb") as out:
            subprocess.run([PY, "flood.py", str(lines), "x", str(timing), "0"], cwd=workdir, stdout=out,
                           env=_environment(bench.root), check=True, timeout=300)
        bench.row("W3", single, "file").values.append(float(timing.read_text()))
        _check_lines(bench, bench.row("W3", single, "file"), workdir / "file.out", {"x": lines}, "file")
        for tool in _interleave(bench, SUPERVISORS[1:]):
            row = bench.row("W3", single, tool)
            row.values.append(max(_flood(bench, tool, workdir, {"x": lines}, row).values()))
            row = bench.row("W3", dual, tool)
            both = {"a": lines // 2, "b": lines // 2}
            row.values.append(max(_flood(bench, tool, workdir, both, row).values()))


def _flood(bench: Bench, tool: str, workdir: Path, letters: dict[str, int], row: Row) -> dict[str, float]:
    timings = {c: workdir / f"t.{c}" for c in letters}
    for t in timings.values():
        t.unlink(missing_ok=True)
    services = [Service(f"flood{c}", [PY, "flood.py", str(n), c, str(timings[c]), "1"])
                for c, n in letters.items()]
    out = workdir / f"{tool}.out"
    with bench.running(tool, workdir, services, out) as run:
        deadline = time.monotonic() + 600
        while not all(t.exists() and t.stat().st_size for t in timings.values()):
            if run.proc.poll() is not None:
                raise Broken(f"{tool} exited ({run.proc.returncode}) before the printers finished")
            if time.monotonic() > deadline:
                raise Broken(f"{tool}: the printers did not finish in 600 s")
            time.sleep(0.02)
        _settle_size(out, quiet=0.5, deadline=time.monotonic() + 120)
        run.proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            run.proc.wait(20)
    _check_lines(bench, row, out, letters, tool)
    return {c: float(t.read_text()) for c, t in timings.items()}


def _settle_size(path: Path, quiet: float, deadline: float) -> None:
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


LINE = re.compile(rb"(?:([^|]{0,48})\| )?(\d{7}) (x{71}|a{71}|b{71})")
FRAGMENT = re.compile(rb"[xab]{8}")


def _check_lines(bench: Bench, row: Row, out: Path, letters: dict[str, int], tool: str) -> None:
    seen = {c: bytearray(n) for c, n in letters.items()}
    torn = 0
    with out.open("rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            m = LINE.fullmatch(line)
            if m and not (m.group(1) and FRAGMENT.search(m.group(1))):
                c, i = m.group(3)[:1].decode(), int(m.group(2))
                if c in seen and i < len(seen[c]):
                    seen[c][i] = 1
                    continue
            if FRAGMENT.search(line):
                torn += 1
    lost = sum(len(s) - sum(s) for s in seen.values())
    if lost or torn:
        row.notes.append(f"{lost} lost, {torn} torn ({', '.join(f'{n:,} {c}' for c, n in letters.items())})")
        if tool in ("devstack", "file"):
            bench.broken.append(f"W3 {tool}: {lost} lines lost, {torn} torn")


# -- W4 restart on change -------------------------------------------------------------------------------


def w4_reload(bench: Bench, workdir: Path) -> None:
    """One session per tool: the writes and the storms are the repetitions (20 and 5 in the full run)."""
    app = workdir / "app"
    (app / "pkg").mkdir(parents=True, exist_ok=True)
    _server(app)
    plan = bench.plan
    for i in range(plan.w4_files):
        (app / "pkg" / f"m{i}.py").write_text("v = 0\n")
    for tool in _interleave(bench, WATCHERS):
        starts = workdir / "starts.log"
        starts.write_text("")
        (app / "app.py").write_text('BODY = "v0"\n')
        (port,) = bench.ports(1)
        service = Service("web", [PY, "server.py"], port, cwd="app", watch=".",
                          env={"BENCH_STARTS": str(starts)})
        latency = bench.row("W4", "write -> new body", tool)
        restarts = bench.row("W4", f"restarts per {plan.w4_files}-file storm", tool, unit="")
        settled = bench.row("W4", f"{plan.w4_files}-file storm: last write -> settled", tool)
        with bench.running(tool, workdir, [service], workdir / f"{tool}.out") as run:
            wait_http([port], run, time.monotonic() + 60)
            time.sleep(1.0)  # let the watcher finish its first scan
            _reload(app, port, run, "warm-up", starts)
            for i in range(plan.w4_writes):
                latency.values.append(_reload(app, port, run, f"v{i}", starts))
            for n in range(plan.w4_storms):
                count, when = _storm(app, plan.w4_files, n, starts, plan.w4_quiet)
                restarts.values.append(count)
                if when is not None:
                    settled.values.append(when)
            wait_http([port], run, time.monotonic() + 30)


WRITE_GAP = 1.2  # seconds between writes: devstack pauses watching a service restarted >10 times in 10 s


def _reload(app: Path, port: int, run: Running, body: str, starts: Path | None = None) -> float:
    global _last_write
    time.sleep(max(0.0, _last_write + WRITE_GAP - time.monotonic()))
    began = _last_write = time.monotonic()
    (app / "app.py").write_text(f'BODY = "{body}"\n')
    done = wait_http([port], run, began + 30, body.encode())
    if starts is not None:
        _quiet(starts, 0.3, time.monotonic() + 10)  # a second restart of the same write is over
    return done - began


_last_write = 0.0


def _starts(path: Path) -> list[float]:
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def _quiet(path: Path, quiet: float, deadline: float) -> None:
    _settle_size(path, quiet, deadline)


def _storm(app: Path, files: int, n: int, starts: Path, quiet: float) -> tuple[int, float | None]:
    before = len(_starts(starts))
    for i in range(files):
        (app / "pkg" / f"m{i}.py").write_text(f"v = {n + 1}\n")
    last_write = time.monotonic()
    deadline = last_write + 30
    while len(_starts(starts)) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    _settle_size(starts, quiet, deadline)
    after = _starts(starts)
    if len(after) == before:
        return 0, None
    return len(after) - before, after[-1] - last_write


# -- W5 idle cost ---------------------------------------------------------------------------------------


def w5_idle(bench: Bench, workdir: Path) -> None:
    """The stacks of a case run side by side, on distinct ports, through the same window: idle
    processes barely disturb one another, and it keeps the full run within 20 minutes."""
    _server(workdir)
    plan = bench.plan
    n = plan.w5_services
    tree = workdir / "tree"
    for d in range(max(1, plan.w5_files // 100)):
        (tree / f"d{d}").mkdir(parents=True, exist_ok=True)
        for f in range(min(100, plan.w5_files)):
            (tree / f"d{d}" / f"f{f}.py").write_text("x = 1\n")
    for _ in range(bench.plan.runs):
        tools = _interleave(bench, SUPERVISORS)
        ports = iter(bench.ports(n * len(tools)))
        _idle(bench, workdir, f"{n} services",
              {t: [Service(f"s{i}", [PY, "server.py"], next(ports)) for i in range(n)] for t in tools})
        tools = _interleave(bench, WATCHERS)
        ports = iter(bench.ports(n * len(tools)))
        stacks = {t: [Service(f"s{i}", [PY, "server.py"], next(ports))
                      for i in range(n if t == "devstack" else 1)] for t in tools}
        for services in stacks.values():
            services[0].watch = "tree"
        _idle(bench, workdir, f"watching {plan.w5_files:,} files", stacks)


def _idle(bench: Bench, workdir: Path, case: str, stacks: dict[str, list[Service]]) -> None:
    plan = bench.plan
    with ExitStack() as stack:
        runs = {tool: stack.enter_context(bench.running(tool, workdir, services, workdir / f"{tool}.out"))
                for tool, services in stacks.items()}
        for tool, run in runs.items():
            wait_http([s.port for s in stacks[tool] if s.port], run, time.monotonic() + 120)
        time.sleep(3.0 if plan is FULL else 0.5)  # the first scan of a watched tree
        first = {tool: {p.pid: _cpu(p) for p in run.supervisor_side()} for tool, run in runs.items()}
        if not all(first.values()):
            raise Broken(f"no supervisor process found for {[t for t, f in first.items() if not f]}")
        began = time.monotonic()
        peak = dict.fromkeys(runs, 0)
        count = dict.fromkeys(runs, 0)
        while time.monotonic() - began < plan.w5_seconds:
            for tool, run in runs.items():
                side = run.supervisor_side()
                count[tool] = max(count[tool], len(side))
                peak[tool] = max(peak[tool], sum(_rss(p) for p in side))
            time.sleep(min(1.0, plan.w5_seconds / 4))
        wall = time.monotonic() - began
        for tool, run in runs.items():
            used = sum(_cpu(p) - first[tool].get(p.pid, 0.0) for p in run.supervisor_side())
            if run.proc.poll() is not None:
                raise Broken(f"{tool} exited ({run.proc.returncode}) while idle")
            bench.row("W5", f"{case}: CPU, % of a core", tool, unit="%").values.append(100 * used / wall)
            rss = bench.row("W5", f"{case}: RSS", tool, unit="MB")
            rss.values.append(peak[tool] / 1e6)
            rss.notes[:] = [f"{count[tool]} process(es)"]


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _rss(p: psutil.Process) -> int:
    try:
        return int(p.memory_info().rss)
    except psutil.Error:
        return 0


# -- W6 control latency ---------------------------------------------------------------------------------


def w6_control(bench: Bench, workdir: Path) -> None:
    _server(workdir)
    n = bench.plan.w6_services
    env = _environment(bench.root)
    for tool, commands in (("devstack", (["ports"], ["status"])), ("supervisord", (["status"],))):
        if not bench.has(tool):
            continue
        ports = bench.ports(n)
        services = [Service(f"s{i}", [PY, "server.py"], p) for i, p in enumerate(ports)]
        with bench.running(tool, workdir, services, workdir / f"{tool}.out") as run:
            wait_http(ports, run, time.monotonic() + 60)
            time.sleep(1.0)
            for args in commands:
                if tool == "devstack":
                    argv, label = [str(bench.tools["devstack"]), *args], f"devstack {args[0]}"
                else:
                    ctl = Path(str(bench.tools["supervisord"])).with_name("supervisorctl")
                    argv = [str(ctl), "-c", str(workdir / "supervisord.conf"), *args]
                    label = "supervisorctl status"
                row = bench.row("W6", f"{n} services: {args[0]}", label)
                for _ in range(bench.plan.w6_calls):
                    began = time.monotonic()
                    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, timeout=30)
                    took = time.monotonic() - began
                    if done.returncode != 0 or done.stdout.count(b"\n") < n:
                        raise Broken(f"{label} exited {done.returncode}: {done.stdout[-300:]!r} "
                                     f"{done.stderr[-300:]!r}")
                    row.values.append(took)


# -- peers, machine, report ---------------------------------------------------------------------------


def install_devstack(quick: bool) -> tuple[Path, str]:
    """The devstack to measure, and how it was installed. A full run installs this checkout into a venv
    of its own with ``pip install``, as a user would and as every peer is: bytecode written, no editable
    finder, none of the test extras (which make httpx import click and pygments). ``--quick`` (CI) uses
    the project's own venv, with its bytecode written: the figures are rougher, the run shorter."""
    if quick:
        import compileall

        import devstack

        compileall.compile_dir(str(Path(devstack.__file__).parent), quiet=1)
        return Path(DEVSTACK), "the project's .venv (editable install)"
    venv = PEERS / "devstack"
    python = venv / "bin" / "python"
    PEERS.mkdir(exist_ok=True)
    if not python.exists():
        subprocess.run([PY, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    repo = str(BENCH.parent)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, repo], check=True, capture_output=True, timeout=600)  # its dependencies
    subprocess.run([*pip, "--no-deps", "--force-reinstall", repo], check=True, capture_output=True,
                   timeout=600)  # this checkout's code, even when the version number did not change
    return venv / "bin" / "devstack", "this checkout, pip-installed into bench/.peers/devstack"


def install_peers(wanted: list[str]) -> tuple[dict[str, Path], dict[str, str]]:
    found: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    bindir = PEERS / "venv" / "bin"
    py_peers = {"honcho": "honcho", "supervisord": "supervisor", "watchfiles": "watchfiles"}
    need = [p for p in wanted if p in py_peers and not (bindir / p).exists()]
    if need:
        PEERS.mkdir(exist_ok=True)
        try:
            if not (bindir / "python").exists():
                subprocess.run([PY, "-m", "venv", str(PEERS / "venv")], check=True, capture_output=True,
                               timeout=300)
            subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", "honcho", "supervisor",
                            "watchfiles"], check=True, capture_output=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as e:
            reason = getattr(e, "stderr", b"") or str(e).encode()
            for p in need:
                skipped[p] = f"pip install failed: {reason.decode(errors='replace').strip()[-200:]}"
    for p in wanted:
        if p in py_peers and p not in skipped:
            if (bindir / p).exists():
                found[p] = bindir / p
            else:
                skipped[p] = f"{bindir / p} missing after pip install"
    if "nodemon" in wanted:
        nodemon = PEERS / "node_modules" / ".bin" / "nodemon"
        if not nodemon.exists():
            if shutil.which("npm") is None or shutil.which("node") is None:
                skipped["nodemon"] = "node/npm not installed (apt-get install nodejs npm)"
            else:
                PEERS.mkdir(exist_ok=True)
                done = subprocess.run(["npm", "install", "--prefix", str(PEERS), "--no-audit", "--no-fund",
                                       "--loglevel=error", "nodemon"], capture_output=True, timeout=600)
                if done.returncode != 0:
                    skipped["nodemon"] = f"npm install failed: {done.stderr.decode(errors='replace')[-200:]}"
        if nodemon.exists():
            found["nodemon"] = nodemon
        else:
            skipped.setdefault("nodemon", f"{nodemon} missing after npm install")
    return found, skipped


def versions(tools: dict[str, Path | None]) -> dict[str, str]:
    def out(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"

    v = {"python": platform.python_version()}
    for name, exe in tools.items():
        if exe is not None:
            v[name] = out([str(exe), "--version"])
    if "nodemon" in tools:
        v["node"] = out(["node", "--version"])
    return v


def machine() -> dict[str, str]:
    model = "?"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "CPU": model,
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g}"


TITLES = {
    "W1": "W1 startup: launch -> every server answers 200",
    "W2": "W2 shutdown: signal to the supervisor -> every process gone",
    "W3": "W3 log throughput: the printing program's own run time (stdout to a file)",
    "W4": "W4 restart on change",
    "W5": "W5 idle cost of the supervisor side",
    "W6": "W6 control commands: wall time",
}


def render(bench: Bench, header: dict[str, dict[str, str]], command: str, elapsed: float) -> str:
    out = ["# devstack against its peers", "",
           f"Generated by `{command}` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
           f"in {elapsed / 60:.1f} min (`bench/run.py --help` explains each workload).", ""]
    header["Machine"]["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for title, table in header.items():
        out += [f"**{title}**: " + "; ".join(f"{k} {v}" for k, v in table.items()), ""]
    if bench.skipped:
        out += ["**Skipped**: " + "; ".join(f"{k}: {v}" for k, v in bench.skipped.items()), ""]
    runs = bench.plan.runs
    out += [f"Runs per measurement: {runs} (the tools take turns in each). `ratio` is devstack's median "
            "divided by the row's: below 1 devstack is faster or lighter.", ""]
    for workload, rows in bench.rows.items():
        out += [f"## {TITLES[workload]}", "", "| case | tool | n | min | median | max | ratio | notes |",
                "| --- | --- | --: | --: | --: | --: | --: | --- |"]
        for r in rows:
            ds = next((x for x in rows if x.case == r.case and x.tool.startswith("devstack")
                       and x.tool.split()[-1:] == r.tool.split()[-1:] or
                       x.case == r.case and x.tool == "devstack"), None)
            if r.values:
                lo, med, hi = min(r.values), statistics.median(r.values), max(r.values)
                ratio = (f"{statistics.median(ds.values) / med:.2f}" if ds is not None and ds.values
                         and med > 0 and ds is not r else "")
                cells = [_fmt(lo, r.unit), _fmt(med, r.unit), _fmt(hi, r.unit), ratio]
            else:
                cells = ["-", "-", "-", ""]
            notes = list(dict.fromkeys(re.sub(r"\b\d{3,7} (?=/)", "", n) for n in r.notes))
            out.append(f"| {r.case} | {r.tool} | {len(r.values)} | " + " | ".join(cells)
                       + f" | {'; '.join(notes)} |")
        out.append("")
    out += goals(bench)
    if bench.broken:
        out += ["## Broken measurements", ""] + [f"- {b}" for b in bench.broken] + [""]
    return "\n".join(out)


def goals(bench: Bench) -> list[str]:
    def med(workload: str, case_start: str, tool: str) -> float | None:
        for r in bench.rows.get(workload, []):
            if r.case.startswith(case_start) and r.tool == tool and r.values:
                return statistics.median(r.values)
        return None

    def rows(workload: str, tool: str) -> list[Row]:
        return [r for r in bench.rows.get(workload, []) if r.tool == tool]

    lines = ["## Goals", "", "| goal | measured | met |", "| --- | --- | --- |"]

    def add(goal: str, measured: str, met: bool | None) -> None:
        lines.append(f"| {goal} | {measured} | {'n/a' if met is None else 'yes' if met else '**no**'} |")

    w1 = [(r.case, statistics.median(r.values), med("W1", r.case, "honcho"))
          for r in rows("W1", "devstack") if r.values]
    if w1:
        pairs = [(c, d, h) for c, d, h in w1 if h is not None]
        add("W1 no slower than honcho", ", ".join(f"{c}: {_fmt(d, 's')} vs {_fmt(h, 's')}"
                                                  for c, d, h in pairs) or "no honcho",
            all(d <= h for _, d, h in pairs) if pairs else None)
    single = next((r for r in rows("W3", "devstack") if r.case.startswith("1 service")), None)
    file = med("W3", "1 service", "file")
    if single is not None and single.values and file:
        ratio = statistics.median(single.values) / file
        notes = "; ".join(n for r in rows("W3", "devstack") for n in r.notes) or "0 lost, 0 torn"
        add("W3 within 1.10x of a file, 0 lost, 0 torn", f"{ratio:.2f}x; {notes}",
            ratio <= 1.10 and not any(r.notes for r in rows("W3", "devstack")))
    lat, nod = med("W4", "write", "devstack"), med("W4", "write", "nodemon")
    storms = next((r.values for r in rows("W4", "devstack") if r.case.startswith("restarts")), [])
    if lat is not None:
        add("W4 at or below nodemon, exactly 1 restart per storm",
            f"{_fmt(lat, 's')} vs nodemon {_fmt(nod, 's') if nod else '-'}; restarts per storm "
            f"{sorted(set(int(x) for x in storms))}",
            (nod is None or lat <= nod) and bool(storms) and all(x == 1 for x in storms))
    w5 = rows("W5", "devstack")
    if w5:
        cpu = max(statistics.median(r.values) for r in w5 if r.unit == "%" and r.values)
        rss = max(statistics.median(r.values) for r in w5 if r.unit == "MB" and r.values)
        add("W5 under 0.5 % of a core and 60 MB RSS", f"worst case {cpu:.2f} %, {rss:.1f} MB",
            cpu < 0.5 and rss < 60)
    w6 = [(r.tool, statistics.median(r.values)) for r in bench.rows.get("W6", []) if
          r.tool.startswith("devstack") and r.values]
    if w6:
        add("W6 under 200 ms", ", ".join(f"{t} {_fmt(v, 's')}" for t, v in w6), all(v < 0.2 for _, v in w6))
    return lines + [""]


WORKLOADS: dict[str, Callable[[Bench, Path], None]] = {
    "W1": w1_startup, "W2": w2_shutdown, "W3": w3_logs, "W4": w4_reload, "W5": w5_idle, "W6": w6_control,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and services, under 2 minutes (CI)")
    parser.add_argument("--only", metavar="TOOLS", default=",".join(("devstack", *PEER_NAMES)),
                        help="comma-separated tools: devstack,honcho,supervisord,nodemon,watchfiles "
                             "(the baselines bare and file always run)")
    parser.add_argument("--workloads", metavar="LIST", default=",".join(WORKLOADS),
                        help="comma-separated: W1,W2,W3,W4,W5,W6")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 5, 1 with --quick)")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md", help="default bench/RESULTS.md")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = Plan(**{**plan.__dict__, "runs": args.runs})
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [t for t in only if t not in ("devstack", *PEER_NAMES)]
    unknown += [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    if not DEVSTACK:
        parser.error(f"no devstack command beside {PY}: run with the project's .venv/bin/python")

    # a runner started in the background (`&`) inherits SIGINT ignored, and would hand that on to every
    # service: a handler of its own is reset to the default in the children instead
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    peers, skipped = install_peers([t for t in only if t in PEER_NAMES])
    tools: dict[str, Path | None] = {"bare": None}
    if "devstack" in only:
        tools["devstack"], how = install_devstack(args.quick)
    tools.update(peers)
    installed = {"devstack:": how} if "devstack" in tools else {}
    with tempfile.TemporaryDirectory(prefix="devstack-bench-") as tmp:
        root = Path(tmp)
        bench = Bench(plan, tools, skipped, root)
        header = {"Machine": machine(), "Versions": versions(tools), "Installed": installed}
        for w in workloads:
            workdir = root / w
            workdir.mkdir()
            t0 = time.monotonic()
            print(f"{w} ...", flush=True)
            try:
                WORKLOADS[w](bench, workdir)
            except (Broken, subprocess.SubprocessError, OSError, psutil.Error) as e:
                bench.broken.append(f"{w} could not run: {e}")
                print(f"{w} BROKEN: {e}", flush=True)
            print(f"{w} done in {time.monotonic() - t0:.0f} s", flush=True)
    command = "python bench/run.py" + ("" if argv is None and len(sys.argv) < 2 else " " + shlex.join(
        argv if argv is not None else sys.argv[1:]))
    report = render(bench, header, command, time.monotonic() - started)
    args.output.write_text(report)
    print(report)
    print(f"written to {args.output}")
    return 1 if bench.broken else 0


if __name__ == "__main__":
    sys.exit(main())
