"""Watching that cannot start says why and what to do. The inotify limit cannot be reached here without
lowering a system-wide sysctl, so it is simulated where watchfiles raises it: its RustNotify."""

from __future__ import annotations

import asyncio
import errno
import shutil
from pathlib import Path

import pytest
import watchfiles.main

from devstack.errors import DevstackError
from devstack.watch import WatchError, WatchLimitError, check_watch_paths

from .helpers import spec, watching


def refuse(exc: OSError):  # type: ignore[no-untyped-def]
    class RefusingNotify:
        def __init__(self, *args: object) -> None:
            raise exc

    return RefusingNotify


@pytest.mark.parametrize(
    "exc",
    [
        OSError("OS file watch limit reached. about [\"/p/api\"] (Error { kind: MaxFilesWatch })"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
)
def test_the_watch_limit_says_how_to_raise_it_or_poll(
    tree: Path, monkeypatch: pytest.MonkeyPatch, exc: OSError
) -> None:
    monkeypatch.setattr(watchfiles.main, "RustNotify", refuse(exc))

    async def main() -> None:
        async with watching({"api": spec(tree, "api")}):
            pass

    with pytest.raises(WatchLimitError) as raised:
        asyncio.run(main())
    message = str(raised.value)
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in message
    assert "watch_polling = true" in message
    assert str(tree / "api") in message
    assert isinstance(raised.value, DevstackError)


def test_too_many_inotify_instances(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchfiles.main, "RustNotify", refuse(OSError("Too many open files (os error 24)")))

    async def main() -> None:
        async with watching({"api": spec(tree, "api")}):
            pass

    with pytest.raises(WatchLimitError, match="max_user_instances"):
        asyncio.run(main())


def test_a_root_that_disappeared_is_named(tree: Path) -> None:
    (tree / "gone" / "api").mkdir(parents=True)
    specs = {"api": spec(tree, "gone/api")}
    shutil.rmtree(tree / "gone")  # after the config was checked, before watching starts

    async def main() -> None:
        async with watching(specs):
            pass

    with pytest.raises(WatchError, match="gone: no such directory") as raised:
        asyncio.run(main())
    assert not isinstance(raised.value, WatchLimitError)


def test_check_watch_paths(tree: Path) -> None:
    good = [str(tree / "api"), str(tree / "api" / "app.py"), str(tree / "api" / "**" / "*.py")]
    assert check_watch_paths(good) == []
    bad = [str(tree / "apii"), str(tree / "nope" / "*.py"), "api"]
    assert check_watch_paths(bad) == [
        f"{tree / 'apii'} does not exist",
        f"{tree / 'nope' / '*.py'}: {tree / 'nope'} does not exist",
        "api is not an absolute path",
    ]
