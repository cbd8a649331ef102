"""Small service programs for the tests, as argv lists (``python -u -c CODE``).

Each prints ``ready pid=N`` once it is set up, so a test can wait for that line instead of sleeping, and
learn the pid to check on later.
"""

from __future__ import annotations

import re
import shlex

from conftest import python

__all__ = ("ENV_CLEARING_DAEMON", "READY", "daemon", "env_clearing_daemon", "flood", "ignore_term", "pids",
           "sh", "sleeper")

READY = re.compile(r"ready pid=(\d+)")

_SLEEP = "import os, time\nprint(f'ready pid={os.getpid()}')\ntime.sleep(60)\n"


def pids(text: str, pattern: str = r"ready pid=(\d+)") -> list[int]:
    return [int(m) for m in re.findall(pattern, text)]


def sleeper() -> list[str]:
    return python(_SLEEP)


def ignore_term() -> list[str]:
    """Ignores SIGTERM: only SIGKILL ends it."""
    return python("import os, signal, time\n"
                  "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                  "print(f'ready pid={os.getpid()}')\n"
                  "time.sleep(60)\n")


def daemon(then_exit: bool = False, ignore_sigterm: bool = False) -> list[str]:
    """Double-forks a daemon the classic way (fork, setsid, fork, stdio to /dev/null), prints
    ``daemon pid=N``, then sleeps (or exits, when ``then_exit``)."""
    return python(f"""
import os, signal, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        if {ignore_sigterm}:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        time.sleep(60)
    os._exit(0)
os.close(w)
daemon = int(os.read(r, 32))
os.wait()
print(f'daemon pid={{daemon}}')
print(f'ready pid={{os.getpid()}}')
if {then_exit}:
    sys.exit(0)
time.sleep(60)
""")


ENV_CLEARING_DAEMON = """\
import os, socket
host, port = os.environ["HOST"], int(os.environ["PORT"])
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[-3]), int(fields[-2])  # env_start, env_end (fields 50, 51 of 52)
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(bytes(end - start))
        srv = socket.create_server((host, port))
        os.write(w, str(os.getpid()).encode())
        os.close(w)
        while True:
            conn, _ = srv.accept()
            conn.close()
    os._exit(0)
os.close(w)
daemon = int(os.read(r, 32))
os.wait()
print(f"daemon pid={daemon}", flush=True)
"""


def env_clearing_daemon() -> list[str]:
    """A server that daemonizes the way redis and nginx do and then erases its environment the way
    ``setproctitle`` does: fork, setsid, fork, stdio to /dev/null, zeros over its environment block (so
    /proc/PID/environ reads empty: no DEVSTACK_RUN or DEVSTACK_SERVICE to find it by), then it listens
    on $HOST:$PORT and accepts connections. Its first process exits 0 once the daemon listens (Linux:
    it writes /proc/self/mem). ``ENV_CLEARING_DAEMON`` is the program, to write to a file."""
    return python(ENV_CLEARING_DAEMON)


def sh(argv: list[str]) -> str:
    """``argv`` as a shell command line."""
    return shlex.join(argv)


def flood(name: str, lines: int, barrier: str | None = None, chunk: int = 4093) -> list[str]:
    """Prints ``lines`` lines ``NAME SEQ PAYLOAD`` in writes of ``chunk`` bytes, so that writes cut lines
    anywhere. With ``barrier`` (a directory), waits (up to 10 s) until every flooder has arrived, so
    that they really print at the same time."""
    return python(f"""
import os, sys, time
name, lines, barrier, chunk = {name!r}, {lines}, {barrier!r}, {chunk}
payload = 'x' * 50
data = ''.join(f'{{name}} {{i:07d}} {{payload}}\\n' for i in range(lines)).encode()
if barrier:
    open(os.path.join(barrier, name), 'w').close()
    deadline = time.monotonic() + 10
    while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
out = sys.stdout.buffer
for i in range(0, len(data), chunk):
    out.write(data[i:i + chunk])
out.flush()
""")
