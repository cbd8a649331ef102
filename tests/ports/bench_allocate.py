"""How long allocating ports for 200 services takes (the target: under 50 ms). Measured, not asserted.

    .venv/bin/python tests/ports/bench_allocate.py [services] [repeats] [other_projects] [their_services]

Each repeat uses a fresh project and a fresh lease registry ("first": every port probed and chosen,
files created) and then allocates the same project again ("again": every persisted port re-probed and
kept). The registry is first seeded with other projects' remembered ports (default 5 projects of 20
services), as on a machine where several stacks have run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from devstack.config.model import PortSpec
from devstack.ports import allocate, release_project


def measure(services: int, others: int, their_services: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(base / "state")
        requests = [(f"service-{i}", PortSpec()) for i in range(services)]
        for n in range(others):
            other = base / f"other-{n}"
            other.mkdir()
            allocate(other, requests[:their_services])
            release_project(other)
        project = base / "project"
        project.mkdir()
        start = time.perf_counter()
        allocate(project, requests)
        first = time.perf_counter() - start
        start = time.perf_counter()
        allocate(project, requests)
        again = time.perf_counter() - start
        release_project(project)
        return first * 1000, again * 1000


def main() -> None:
    services = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    others = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    their_services = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    runs = [measure(services, others, their_services) for _ in range(repeats)]
    for label, values in (("first", [r[0] for r in runs]), ("again", [r[1] for r in runs])):
        print(f"{services} services, {label:5}: median {statistics.median(values):.1f} ms, "
              f"min {min(values):.1f} ms, max {max(values):.1f} ms ({repeats} runs)")


if __name__ == "__main__":
    main()
