"""Fixtures of the watcher's tests; the harness is in ``helpers``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A project: api/ and web/ with a file each, and sentinel/ watched by a service of its own."""
    for d in ("api", "web", "sentinel"):
        (tmp_path / d).mkdir()
    (tmp_path / "api" / "app.py").write_text("v = 1\n")
    (tmp_path / "web" / "index.js").write_text("let v = 1\n")
    return tmp_path
