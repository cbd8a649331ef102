"""``devstack start``, ``stop``, ``restart``, ``down``, ``wait`` and ``logs``: steer a running stack from
another terminal, through its control socket."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from ..config import Config
from ..control.client import NotRunning, control_client, request
from ..errors import DevstackError, UsageError
from ..grep import Matcher, compile_grep
from ..logfiles import read_logs
from ..project import Project
from ..state import read_run, refuse_foreign
from .common import check_names

__all__ = ("down", "logs", "restart", "start", "stop", "wait")

DOWN_MARGIN = 10.0  # beyond the longest stop_timeout, for `devstack down` to wait


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def start(project: Project, args: argparse.Namespace) -> int:
    names = check_names(project.config, args.names)
    result = request(project.state_dir, "POST", "/start", json={"names": names})
    started = result["started"]
    _emit(args, result, f"started: {', '.join(started)}" if started else "already running")
    return 0


def stop(project: Project, args: argparse.Namespace) -> int:
    names = check_names(project.config, args.names)
    result = request(project.state_dir, "POST", "/stop", json={"names": names})
    stopped = result["stopped"]
    _emit(args, result, f"stopped: {', '.join(stopped)}" if stopped else "not running")
    return 0


def restart(project: Project, args: argparse.Namespace) -> int:
    names = check_names(project.config, args.names)
    result = request(project.state_dir, "POST", "/restart", json={"names": names},
                     params={"timeout": args.timeout}, timeout=args.timeout + 5)
    states = result["services"]
    _emit(args, result, "\n".join(f"{name}: {state}" for name, state in states.items()))
    return 0 if all(s in ("healthy", "running") for s in states.values()) else 1


def down(project: Project, args: argparse.Namespace) -> int:
    """Needs no config: the running stack says how long its slowest service may take to stop."""
    result = request(project.state_dir, "POST", "/down")
    pid = int(result["pid"])
    limit = float(result["stop_timeout"]) + DOWN_MARGIN
    if not _gone(pid, limit):
        raise DevstackError(f"the stack (pid {pid}) is still stopping after {limit:g} s")
    _emit(args, {"stopped": True, "pid": pid}, "stack stopped")
    return 0


def _gone(pid: int, limit: float) -> bool:
    """Wait until ``pid`` has exited. A zombie has: a detached supervisor's parent is init, which may
    take its time to reap it (psutil's own wait would wait for that too)."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return True
    deadline = time.monotonic() + limit
    delay = 0.005
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False


def wait(project: Project, args: argparse.Namespace) -> int:
    names = check_names(project.config, args.names)
    with control_client(project.state_dir, timeout=args.timeout + 5) as client:
        try:
            resp = client.get("/wait", params={"name": names, "timeout": args.timeout})
        except httpx.TransportError:
            raise NotRunning("the running stack stopped while waiting") from None
    result = resp.json()
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["ok"]:
        print("ready: " + ", ".join(f"{n} ({s})" for n, s in result["services"].items()))
    elif result.get("timeout"):
        waiting = ", ".join(result["waiting"])
        print(f"timed out after {args.timeout:g} s waiting for {waiting}", file=sys.stderr)
    else:
        for name in result["failed"]:
            print(result.get("why", {}).get(name) or f"{name} failed", file=sys.stderr)
    return 0 if result["ok"] else 1


# -- logs -------------------------------------------------------------------------------------------

def logs(project: Project, args: argparse.Namespace) -> int:
    """Recent lines (the running stack's memory, else the log files), filtered by ``--since`` and
    ``--grep``, the last ``-n`` of them; with ``-f``, then new lines as they come."""
    config = project.config
    names = check_names(config, args.names)
    grep = _regex(args.grep)
    since = time.time() - args.since if args.since else None
    refuse_foreign(config.state_dir, "read its logs")
    record = read_run(config.state_dir)
    width = max([len(n) for n in (names or config.services)] + [len("devstack")])
    if record is not None and record.alive and record.control:
        params: dict[str, Any] = {"name": names, "n": args.lines}
        if since is not None:
            params["since"] = since
        if args.grep:
            params["grep"] = args.grep
        if args.follow:
            params["follow"] = "1"
        try:
            _print(_from_stack(config, params), width, args.json, flush=True)
        except KeyboardInterrupt:
            pass
        return 0
    if args.follow:
        raise NotRunning("no stack is running for this project: nothing to follow (devstack up first)")
    logs_dir = Path(config.state_dir) / "logs"
    files = {name: logs_dir / f"{name}.log" for name in names or config.services}
    _print(read_logs(files, lambda e: grep is None or bool(grep.search(e[2])), args.lines, since),
           width, args.json)
    return 0


def _print(lines: Iterable[tuple[float, str, str]], width: int, as_json: bool, flush: bool = False) -> None:
    """``flush``: each line as it comes (from a running stack); from the files, as fast as they read."""
    for t, name, text in lines:
        if as_json:
            print(json.dumps({"time": t, "service": name, "line": text}), flush=flush)
        else:
            print(_line(t, name, text, width), flush=flush)


def _line(t: float, name: str, text: str, width: int) -> str:
    """``HH:MM:SS name | text``, as the stack's own stream shows it."""
    stamp = datetime.fromtimestamp(t).strftime("%H:%M:%S") if t else "--:--:--"
    return f"{stamp} {name:<{width}} | {text}"


def last_lines(config: Config, name: str, n: int, width: int) -> list[str]:
    """The last ``n`` lines of ``name`` (with devstack's own about it) as ``devstack logs`` prints them:
    from the running stack, else from its log file."""
    record = read_run(config.state_dir)
    if record is not None and record.alive and record.control:
        entries = list(_from_stack(config, {"name": [name], "n": n}))
    else:
        path = Path(config.state_dir) / "logs" / f"{name}.log"
        entries = list(read_logs({name: path}, lambda e: True, n, None))
    return [_line(t, svc, text, width) for t, svc, text in entries]


def _regex(pattern: str | None) -> Matcher | None:
    if pattern is None:
        return None
    try:
        return compile_grep(pattern)
    except ValueError as exc:
        raise UsageError(f"--grep {pattern!r} is not a valid regular expression: {exc}") from None


def _from_stack(config: Config, params: dict[str, Any]) -> Iterator[tuple[float, str, str]]:
    with control_client(config.state_dir, timeout=None) as client:
        try:
            with client.stream("GET", "/logs", params=params) as resp:
                for raw in resp.iter_lines():
                    if raw:
                        entry = json.loads(raw)
                        yield entry["time"], entry["service"], entry["line"]
        except httpx.TransportError:
            return
