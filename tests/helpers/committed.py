"""The repository's files as committed, not as the working tree has them: a newcomer who follows a
README ("edit api.py") and then runs the tests must not see the tests fail for it.

``committed(rel, dest)`` writes the committed ``rel`` (a file or a directory of the repository) to
``dest``, from ``git archive HEAD``; outside a git checkout (an unpacked sdist) it copies the files as
they are, which are then the released ones.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

__all__ = ("REPO", "committed")

REPO = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(".devstack", "node_modules", "__pycache__")


def _archive(rel: str) -> bytes | None:
    if shutil.which("git") is None:
        return None
    try:
        done = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "HEAD", "--", rel],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def committed(rel: str, dest: Path) -> Path:
    """``rel`` as committed at HEAD, written to ``dest`` (a directory's files under it); ``dest``."""
    data = _archive(rel)
    if data is None:  # not a git checkout, or rel not committed: the files as they are
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True, ignore=_SKIP)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
        return dest
    root = PurePosixPath(rel)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or (path != root and root not in path.parents):
                continue
            target = dest if path == root else dest.joinpath(*path.relative_to(root).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
            target.chmod(member.mode & 0o777)
    return dest
