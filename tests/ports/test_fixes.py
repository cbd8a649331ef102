"""The fix a port finding names is the one for the tool that really runs (``ports.fixes``)."""

from __future__ import annotations

import pytest

from devstack.ports import Listen, verify
from devstack.ports.fixes import Fixes

CASES = [
    # (cmd, what its processes run, the fix for an ignored PORT, the fix for binding beyond loopback)
    ("python manage.py runserver", [], "manage.py runserver ${HOST}:${PORT}", "runserver ${HOST}:${PORT}"),
    ("./manage.py runserver 0.0.0.0:8000", [], "manage.py runserver ${HOST}:${PORT}", "${HOST}:${PORT}"),
    ("python3 -m http.server", [], "python3 -m http.server ${PORT} --bind ${HOST}", "--bind ${HOST}"),
    ("bin/rails server", [], "-p ${PORT}", "-b ${HOST}"),
    ("bundle exec rails s", [], "-p ${PORT}", "-b ${HOST}"),
    ("gunicorn app:app", [], "--bind ${HOST}:${PORT}", "--bind ${HOST}:${PORT}"),
    ("cd api && exec gunicorn app:app -w 2", [], "--bind ${HOST}:${PORT}", "--bind ${HOST}:${PORT}"),
    ("uv run uvicorn app:app", [], "--port ${PORT}", "--host ${HOST}"),
    ("flask run", [], "--port ${PORT}", "--host ${HOST}"),
    ("npx vite", [], "--port ${PORT} --strictPort", "--host ${HOST}"),
    ("npm run dev", [], "npm run dev -- --port ${PORT}", "npm run dev -- --host ${HOST}"),
    ("npm run dev", [["node", "/app/node_modules/.bin/vite"]], "npm run dev -- --port ${PORT} --strictPort",
     "npm run dev -- --host ${HOST}"),
    ("yarn dev", [["node", "/app/node_modules/next/dist/bin/next", "dev"]], "yarn dev -p ${PORT}",
     "yarn dev -H ${HOST}"),
    ("node server.js", [["node", "server.js"]], "process.env.PORT", "process.env.HOST"),
    ("php -S localhost:8000", [], "php -S ${HOST}:${PORT}", "php -S ${HOST}:${PORT}"),
    ("redis-server --save ''", [], "--port ${PORT}", "--bind ${HOST}"),
    # the cmd says nothing (a script): what runs does
    ("./start.sh", [["sh", "./start.sh"], ["python3", "-m", "http.server"]], "http.server ${PORT}",
     "--bind ${HOST}"),
]


@pytest.mark.parametrize("cmd, running, port, bind", CASES, ids=[c[0] for c in CASES])
def test_the_fix_of_each_tool(cmd: str, running: list[list[str]], port: str, bind: str) -> None:
    fixes = Fixes.of(cmd, running)
    assert port in fixes.port and "--port ${PORT} (or" not in fixes.port, fixes
    assert bind in fixes.bind, fixes


def test_an_unknown_tool_gets_the_generic_fix() -> None:
    fixes = Fixes.of("./serve --fast", [["./serve", "--fast"]])
    assert fixes.port.startswith("pass the port on its command line: --port ${PORT}")
    assert "${HOST}" in fixes.bind


def test_every_finding_names_a_fix() -> None:
    django = Fixes.of("python manage.py runserver", [])
    expected = {"port": 21000}
    found = {
        "ignored_port": verify("web", expected, [Listen(1, "127.0.0.1", 8000)], django),
        "exposed": verify("web", expected, [Listen(1, "0.0.0.0", 21000)], django),
        "ipv6_only": verify("web", expected, [Listen(1, "::1", 21000)], django),
        "not_listening": verify("web", expected, [], django),
    }
    for kind, [finding] in found.items():
        assert finding.kind == kind
        assert "runserver ${HOST}:${PORT}" in finding.message, finding
    assert "set port = false if it serves nothing" in found["not_listening"][0].message
