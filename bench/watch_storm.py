"""How long after a burst of writes does the single restart come? (devstack.watch)

Writes STORM files at once (a git checkout, from another thread, so the event loop stays free as it
would be with another process writing), several times over, and reports for each storm the time from
its last write until the restart callback fires ("settled"), and how many restarts it caused.

    .venv/bin/python bench/watch_storm.py [--files 200] [--storms 10] [--debounce 0.1] [--polling]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from devstack.watch import StackWatcher, WatchSpec


def storm(directory: Path, files: int, round_: int) -> float:
    for i in range(files):
        (directory / f"m{i}.py").write_text(f"v = {round_}\n")
    return time.monotonic()


async def bench(files: int, storms: int, debounce: float, polling: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="watch-storm-") as tmp:
        root = Path(tmp)
        api, flag = root / "api", root / "flag"
        (api / "pkg").mkdir(parents=True)
        flag.mkdir()
        restarts: dict[str, list[float]] = {"api": [], "flag": []}
        changed = asyncio.Event()

        async def restart(name: str, paths: list[Path]) -> None:
            restarts[name].append(time.monotonic())
            changed.set()

        async def until(name: str, count: int) -> None:
            async with asyncio.timeout(30):
                while len(restarts[name]) < count:
                    changed.clear()
                    await changed.wait()

        specs = {
            "api": WatchSpec(cwd=api, watch=(str(api),)),
            "flag": WatchSpec(cwd=flag, watch=(str(flag),)),  # a later change, to know the storm is all in
        }
        watcher = StackWatcher(specs, restart=restart, on_pause=print, debounce=debounce, polling=polling,
                               loop_limit=10**6)
        started = time.monotonic()
        task = await watcher.start()
        print(f"watching after {1000 * (time.monotonic() - started):.0f} ms ({watcher!r})")
        settled, per_storm = [], []
        try:
            for n in range(storms):
                before = len(restarts["api"])
                last_write = await asyncio.to_thread(storm, api / "pkg", files, n)
                await until("api", before + 1)
                settled.append(restarts["api"][before] - last_write)
                (flag / "f").write_text(str(n))
                await until("flag", n + 1)
                if watcher.status("api") != "idle":  # the storm is all in: a second restart is pending
                    await until("api", before + 2)
                per_storm.append(len(restarts["api"]) - before)
                print(f"storm {n + 1}: settled {1000 * settled[-1]:.0f} ms, restarts {per_storm[-1]}")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        ms = sorted(1000 * s for s in settled)
        print(
            f"{files} files x {storms} storms, debounce {1000 * debounce:.0f} ms: settled median "
            f"{statistics.median(ms):.0f} ms, min {ms[0]:.0f}, max {ms[-1]:.0f}; restarts per storm "
            f"{sorted(set(per_storm))}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--storms", type=int, default=10)
    parser.add_argument("--debounce", type=float, default=0.1)
    parser.add_argument("--polling", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.files, args.storms, args.debounce, args.polling))


if __name__ == "__main__":
    main()
