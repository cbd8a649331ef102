"""The public surface: what ``devstack.watch`` exports, and the phrases it builds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import devstack.watch
from devstack.config.model import Config, Service, Settings
from devstack.watch import StackWatcher, WatchSpec, describe_change, describe_loop


def test_all_names_are_exported() -> None:
    assert sorted(devstack.watch.__all__) == sorted(
        name for name in vars(devstack.watch) if not name.startswith("_") and name[0].isupper() or
        name in {"check_watch_paths", "describe_change", "describe_loop", "is_editor_temp"}
    )
    for name in devstack.watch.__all__:
        assert hasattr(devstack.watch, name)


def test_describe_change() -> None:
    cwd = Path("/p/api")
    assert describe_change([Path("/p/api/app.py")], cwd) == "app.py changed"
    paths = [Path("/p/api/app.py"), Path("/p/api/db.py"), Path("/p/api/x/y.py"), Path("/p/lib/z.py")]
    assert describe_change(paths, cwd) == "app.py and 3 more changed"
    assert describe_change([Path("/p/lib/z.py")], cwd) == "/p/lib/z.py changed"


def test_describe_loop() -> None:
    paths = [Path("/p/api/logs/a.log"), Path("/p/api/b"), Path("/p/api/c"), Path("/p/api/d")]
    text = describe_loop("api", paths, Path("/p/api"))
    assert text.startswith("api restarted more than 10 times in 10 s")
    assert "logs/a.log, b, c, and 1 more" in text


def test_from_config(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    services = {
        "api": Service(name="api", cmd="x", cwd=tmp_path / "api", watch=(str(tmp_path / "api"),)),
        "db": Service(name="db", cmd="y", cwd=tmp_path),
    }
    config = Config(tmp_path / "devstack.toml", services, Settings(debounce=0.25, watch_polling=True))

    async def restart(name: str, paths: list[Path]) -> None:
        pass

    watcher = StackWatcher.from_config(config, restart=restart, on_pause=lambda name, paths: None)
    assert watcher.roots == (tmp_path / "api",)
    assert (watcher.debounce, watcher.polling) == (0.25, True)
    assert watcher.status("api") == "idle" and watcher.status("db") == "unwatched"
    assert "polling" in repr(watcher)
    assert WatchSpec.from_service(services["api"]).watch == (str(tmp_path / "api"),)
    only_db = StackWatcher.from_config(config, restart=restart, on_pause=lambda name, paths: None,
                                       names=["db"])  # the services a partial `devstack up db` runs
    assert only_db.roots == () and only_db.status("api") == "unwatched"


def test_nothing_to_watch_is_ready_at_once() -> None:
    async def restart(name: str, paths: list[Path]) -> None:
        pass

    async def main() -> None:
        watcher = StackWatcher({}, restart=restart, on_pause=lambda name, paths: None)
        task = await watcher.start()
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
