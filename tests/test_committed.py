"""The tests do not depend on the working tree: a newcomer follows the demo's README ("edit api.py:
VERSION = "2""), then runs the example tests, and they pass, since they run the files as committed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.committed import REPO
from helpers.stack import clean_env


def test_the_example_tests_pass_after_the_edit_the_demo_suggests(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tests run the files as they are")
    clone = tmp_path / "clone"
    # the committed tree (HEAD), plus this working tree's tests: they are what is being tested
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--local", "--no-hardlinks", str(REPO), str(clone)], check=True,
                   timeout=60)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", head], check=True)
    shutil.rmtree(clone / "tests")
    shutil.copytree(REPO / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["git", "-C", str(clone), "add", "-A", "tests"], check=True)
    subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm",
                    "tests", "--allow-empty"], check=True)
    api = clone / "examples" / "demo" / "api.py"
    api.write_text(api.read_text().replace('VERSION = "1"', 'VERSION = "2"'))  # as the README says
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_examples.py", "-k",
         "root_stack"], cwd=clone, env=clean_env(), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
