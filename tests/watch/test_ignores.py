"""What never restarts a service: build and env dirs, editors' temporary files, .gitignore'd paths and
the service's own ``ignore`` patterns. Each end-to-end test writes the ignored files, then a sentinel
change (delivered after them by the same inotify queue), and only then checks that nothing restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.watch import is_editor_temp
from devstack.watch._ignore import GitIgnores

from .helpers import sentinel, spec, watching

EDITOR_TEMPS = ["app.py___jb_tmp___", "app.py___jb_old___", "4913", ".app.py.swp", ".app.py.swx", "app.py~",
                "#app.py#", ".#app.py"]
IGNORED_DIRS = ["venv", ".venv", "dist", "build", ".next", "target", "node_modules", ".devstack", ".git",
                "__pycache__"]


def write_all(base: Path, names: list[str]) -> None:
    for name in names:
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")


async def assert_no_restart(tree: Path, specs: dict, writes: list[str], **options: object) -> None:  # type: ignore[type-arg]
    async with watching({**specs, "sentinel": sentinel(tree)}, **options) as h:
        write_all(tree, writes)
        await h.flush(tree / "sentinel" / "s")
        for name in specs:
            await h.idle(name)
            assert h.count(name) == 0, h.restarts


def test_editor_temp_files_do_not_restart(tree: Path) -> None:
    asyncio.run(assert_no_restart(tree, {"api": spec(tree, "api")}, [f"api/{n}" for n in EDITOR_TEMPS]))


def test_build_and_env_dirs_do_not_restart(tree: Path) -> None:
    writes = [f"api/{d}/lib/x.py" for d in IGNORED_DIRS]
    asyncio.run(assert_no_restart(tree, {"api": spec(tree, "api")}, writes))


def test_gitignored_paths_do_not_restart(tree: Path) -> None:
    (tree / ".gitignore").write_text("*.log\ngenerated/\n/api/secret.txt\n")
    (tree / "api" / ".gitignore").write_text("local.cfg\n")
    writes = ["api/x.log", "api/deep/er/y.log", "api/generated/a.py", "api/secret.txt", "api/pkg/local.cfg"]
    asyncio.run(assert_no_restart(tree, {"api": spec(tree, "api")}, writes, project_root=tree))


def test_gitignore_negation_and_nested_files_apply_relative_to_their_directory(tree: Path) -> None:
    (tree / ".gitignore").write_text("*.log\n")
    (tree / "api" / ".gitignore").write_text("!keep.log\n/top.cfg\n")
    (tree / "api" / "sub").mkdir()  # before watching: inotify may miss files made in a brand-new dir

    async def main() -> None:
        async with watching({"api": spec(tree, "api")}, project_root=tree) as h:
            write_all(tree, ["api/x.log", "api/top.cfg", "api/sub/top.cfg", "api/keep.log"])
            await h.restarted("api")
            await h.idle("api")
            assert h.paths("api") == [[tree / "api" / "keep.log", tree / "api" / "sub" / "top.cfg"]]

    asyncio.run(main())


def test_service_ignore_patterns_are_relative_to_its_cwd(tree: Path) -> None:
    specs = {"api": spec(tree, "api", ignore=("*.tmp", "data/", "/local.toml"))}
    writes = ["api/a.tmp", "api/data/db.sqlite", "api/local.toml"]
    asyncio.run(assert_no_restart(tree, specs, writes))


def test_a_changed_gitignore_is_read_again(tree: Path) -> None:
    async def main() -> None:
        specs = {"api": spec(tree, "api"), "sentinel": sentinel(tree)}
        async with watching(specs, project_root=tree) as h:
            (tree / ".gitignore").write_text("*.out\n")  # outside api/: restarts nothing
            await h.flush(tree / "sentinel" / "s")
            (tree / "api" / "run.out").write_text("x\n")
            await h.flush(tree / "sentinel" / "s")
            await h.idle("api")
            assert h.count("api") == 0

    asyncio.run(main())


def test_a_named_directory_is_watched_although_ignored(tree: Path) -> None:
    """Rules apply below what a service watches: naming dist/ (gitignored, and a default) watches it."""
    (tree / ".gitignore").write_text("dist/\n")
    (tree / "dist").mkdir()

    async def main() -> None:
        async with watching({"web": spec(tree, "web", "dist")}, project_root=tree) as h:
            (tree / "dist" / "app.js").write_text("x\n")
            await h.restarted("web")

    asyncio.run(main())


def test_a_named_file_is_watched_although_gitignored(tree: Path) -> None:
    (tree / ".gitignore").write_text(".env\n")
    (tree / ".env").write_text("A=1\n")

    async def main() -> None:
        async with watching({"api": spec(tree, "api", ".env")}, project_root=tree) as h:
            (tree / ".env").write_text("A=2\n")
            await h.restarted("api")

    asyncio.run(main())


def test_a_project_inside_a_directory_named_build_is_watched(tmp_path: Path) -> None:
    project = tmp_path / "build" / "shop"
    (project / "api").mkdir(parents=True)

    async def main() -> None:
        async with watching({"api": spec(project, "api")}, project_root=project) as h:
            (project / "api" / "app.py").write_text("x\n")
            await h.restarted("api")

    asyncio.run(main())


# -- the rules alone ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EDITOR_TEMPS + ["5036", "x.pyc"])
def test_editor_temp_names(name: str) -> None:
    assert is_editor_temp(name)


@pytest.mark.parametrize("name", ["app.py", "4914", "2024", "notes#1", "build.py", "Makefile"])
def test_ordinary_names(name: str) -> None:
    assert not is_editor_temp(name)


def test_gitignore_rules(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\nout/\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / ".gitignore").write_text("!keep.log\n")
    (tmp_path / "api" / "out").mkdir()
    (tmp_path / "api" / "bin").mkdir()
    (tmp_path / "api" / "bin" / "build").write_text("#!/bin/sh\n")
    rules = GitIgnores(tmp_path)
    root = tmp_path / "api"
    assert rules.ignored(root, root / "a.log")
    assert not rules.ignored(root, root / "keep.log")
    assert rules.ignored(root, root / "out" / "x.py")
    assert rules.ignored(root, root / "out")  # the directory itself
    assert not rules.ignored(root, root / "app.py")
    assert not rules.ignored(root, root / "bin" / "build")  # a file named like a default dir
    assert rules.ignored(root, root / "build" / "x")
    assert not GitIgnores(None).ignored(root, root / "a.log")  # no project root: no .gitignore above
