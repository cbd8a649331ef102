"""A service that writes into its own watched tree on every start would restart forever; the loop
guard pauses its watching after more than 10 restarts in 10 s and says what keeps changing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .helpers import Harness, sentinel, spec, watching, write


def test_a_service_writing_into_its_own_tree_is_paused(tree: Path) -> None:
    h = Harness()
    log = tree / "api" / "server.log"

    async def starts_and_writes(n: int) -> None:
        write(log, f"started {n}\n")

    h.hooks["api"] = starts_and_writes

    async def main() -> None:
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}, h):
            (tree / "api" / "app.py").write_text("v = 2\n")
            await h.until(lambda: h.pauses, "api to be paused")
            assert h.count("api") == 10
            assert h.pauses == [("api", [log])]
            assert h.watcher.status("api") == "paused"

            (tree / "api" / "app.py").write_text("v = 3\n")  # paused: nothing happens
            await h.flush(tree / "sentinel" / "s")
            assert h.count("api") == 10

            h.hooks.clear()
            h.watcher.resume("api")
            (tree / "api" / "app.py").write_text("v = 4\n")
            await h.restarted("api", 11)

    asyncio.run(main())


def test_the_guard_counts_only_restarts_within_its_window(tree: Path) -> None:
    h = Harness()

    async def main() -> None:
        async with watching({"api": spec(tree, "api")}, h, loop_limit=2, loop_window=0.0):
            for n in range(1, 5):  # a zero window forgets every restart at once
                (tree / "api" / "app.py").write_text(f"v = {n}\n")
                await h.restarted("api", n)
            assert h.pauses == []

    asyncio.run(main())
