"""Changes restart the services that watch them: once per burst, once more for a change during a
restart, never a service that does not watch the change. Real files, the real awatch."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .helpers import Harness, sentinel, spec, watching


def test_write_in_place_restarts_with_the_changed_path(tree: Path) -> None:
    async def main() -> None:
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}) as h:
            (tree / "api" / "app.py").write_text("v = 2\n")
            await h.restarted("api")
            assert h.paths("api") == [[tree / "api" / "app.py"]]

    asyncio.run(main())


def test_atomic_save_restarts_once_and_names_the_saved_file(tree: Path) -> None:
    async def main() -> None:
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}) as h:
            temp = tree / "api" / ".app.py.tmp4821"
            temp.write_text("v = 3\n")
            os.replace(temp, tree / "api" / "app.py")
            await h.restarted("api")
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.paths("api") == [[tree / "api" / "app.py"]]  # the vanished temp file is not named

    asyncio.run(main())


def test_delete_restarts(tree: Path) -> None:
    async def main() -> None:
        async with watching({"api": spec(tree, "api")}) as h:
            (tree / "api" / "app.py").unlink()
            await h.restarted("api")
            assert h.paths("api") == [[tree / "api" / "app.py"]]

    asyncio.run(main())


def test_a_storm_of_500_files_restarts_once(tree: Path) -> None:
    async def main() -> None:
        pkg = tree / "api" / "pkg"
        pkg.mkdir()
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}) as h:
            for i in range(500):  # a git checkout: many files rewritten at once
                (pkg / f"m{i}.py").write_text(f"v = {i}\n")
            await h.restarted("api")
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 1
            assert len(h.paths("api")[0]) == 500

    asyncio.run(main())


def test_a_change_during_a_restart_gives_exactly_one_more(tree: Path) -> None:
    h = Harness()

    async def while_restarting(n: int) -> None:
        if n == 1:  # two separate bursts while the first restart is still going on
            (tree / "api" / "one.py").write_text("1\n")
            await h.flush(tree / "sentinel" / "s")
            (tree / "api" / "two.py").write_text("2\n")
            await h.flush(tree / "sentinel" / "s")
            assert h.watcher.status("api") == "restarting"

    h.hooks["api"] = while_restarting

    async def main() -> None:
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}, h):
            (tree / "api" / "app.py").write_text("v = 2\n")
            await h.restarted("api", 2)
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 2
            assert h.paths("api")[1] == [tree / "api" / "one.py", tree / "api" / "two.py"]

    asyncio.run(main())


def test_a_change_under_one_service_does_not_restart_another(tree: Path) -> None:
    async def main() -> None:
        specs = {"api": spec(tree, "api"), "web": spec(tree, "web"), "sentinel": sentinel(tree)}
        async with watching(specs) as h:
            (tree / "web" / "index.js").write_text("let v = 2\n")
            await h.restarted("web")
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 0

    asyncio.run(main())


def test_services_watching_the_same_file_both_restart(tree: Path) -> None:
    async def main() -> None:
        shared = tree / "shared.toml"
        shared.write_text("a = 1\n")
        specs = {"api": spec(tree, "api", "shared.toml"), "web": spec(tree, "web", "web", "shared.toml")}
        async with watching(specs) as h:
            shared.write_text("a = 2\n")
            await h.restarted("api")
            await h.restarted("web")

    asyncio.run(main())


def test_glob_entries_match_by_pattern(tree: Path) -> None:
    async def main() -> None:
        (tree / "api" / "pkg").mkdir()
        specs = {"api": spec(tree, "api", "api/**/*.py"), "sentinel": sentinel(tree)}
        async with watching(specs) as h:
            (tree / "api" / "README.md").write_text("docs\n")
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 0
            (tree / "api" / "pkg" / "mod.py").write_text("x = 1\n")
            await h.restarted("api")
            assert h.paths("api") == [[tree / "api" / "pkg" / "mod.py"]]

    asyncio.run(main())


def test_a_single_star_glob_stays_in_its_directory(tree: Path) -> None:
    async def main() -> None:
        (tree / "api" / "pkg").mkdir()
        specs = {"api": spec(tree, "api", "api/*.py"), "sentinel": sentinel(tree)}
        async with watching(specs) as h:
            (tree / "api" / "pkg" / "mod.py").write_text("x = 1\n")
            await h.flush(tree / "sentinel" / "s")
            assert h.count("api") == 0
            (tree / "api" / "main.py").write_text("x = 1\n")
            await h.restarted("api")

    asyncio.run(main())


def test_a_watched_file_survives_atomic_saves(tree: Path) -> None:
    """A file is watched through its directory: a watch on the file itself would be lost with the
    replaced inode after the first editor-style save."""

    async def main() -> None:
        config = tree / "api" / "settings.toml"
        config.write_text("a = 0\n")
        specs = {"api": spec(tree, "api", "api/settings.toml"), "sentinel": sentinel(tree)}
        async with watching(specs) as h:
            for n in (1, 2):
                temp = tree / "api" / f".settings.toml.{n}"
                temp.write_text(f"a = {n}\n")
                os.replace(temp, config)
                await h.restarted("api", n)
            (tree / "api" / "app.py").write_text("v = 9\n")  # next to it, but not watched
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.paths("api") == [[config], [config]]

    asyncio.run(main())


def test_polling_mode_sees_changes(tree: Path) -> None:
    """notify's poller compares modification times in whole seconds: a second write within the second
    of the first goes unseen. The file here was last modified long ago, as a file being edited is."""

    async def main() -> None:
        os.utime(tree / "api" / "app.py", (1_000_000_000, 1_000_000_000))
        async with watching({"api": spec(tree, "api")}, polling=True, poll_delay=0.05) as h:
            (tree / "api" / "app.py").write_text("v = 20\n")
            await h.restarted("api")

    asyncio.run(main())


def test_roots_are_deduplicated(tree: Path) -> None:
    async def main() -> None:
        specs = {
            "api": spec(tree, "api", "api", "api/**/*.py"),
            "all": spec(tree, "api", "."),
            "web": spec(tree, "web", "web/*.js"),
        }
        async with watching(specs) as h:
            assert h.watcher.roots == (tree,)

    asyncio.run(main())


def test_a_failing_restart_is_logged_and_watching_goes_on(tree: Path) -> None:
    h = Harness()

    async def fail(n: int) -> None:
        if n == 1:
            raise RuntimeError("spawn failed")

    h.hooks["api"] = fail

    async def main() -> None:
        async with watching({"api": spec(tree, "api")}, h):
            (tree / "api" / "app.py").write_text("v = 2\n")
            await h.restarted("api")
            await h.idle("api")
            (tree / "api" / "app.py").write_text("v = 3\n")
            await h.restarted("api", 2)

    asyncio.run(main())


def test_a_directory_moved_in_restarts_and_an_empty_one_does_not(tree: Path) -> None:
    """A moved directory's files make no changes of their own: the directory's arrival is the change."""

    async def main() -> None:
        outside = tree / "incoming"
        outside.mkdir()
        (outside / "mod.py").write_text("x = 1\n")
        async with watching({"api": spec(tree, "api"), "sentinel": sentinel(tree)}) as h:
            (tree / "api" / "empty").mkdir()
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 0
            os.rename(outside, tree / "api" / "pkg")
            await h.restarted("api")
            assert h.paths("api") == [[tree / "api" / "pkg"]]

    asyncio.run(main())
