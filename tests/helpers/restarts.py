"""What crash restarts really did, read from the output of a service that prints ``t=<epoch seconds>``
each time it starts: the delays devstack announced, and the start times the service printed."""

from __future__ import annotations

import re

STAMP = r"\| t=(\d+\.\d+)$"


def start_times(output: str, name: str) -> list[float]:
    return [float(t) for t in re.findall(rf"^{name}\s+{STAMP}", output, re.MULTILINE)]


def announced_delays(output: str, name: str) -> list[float]:
    return [float(d) for d in re.findall(rf"{name} restarting in ([\d.]+) s", output)]


def assert_delays_kept(output: str, name: str) -> None:
    """No restart came before the delay devstack announced for it, and none long after. The gap between
    two starts is the delay plus one exit and one spawn, which a loaded machine stretches by a few hundred
    ms: so the lower bound (the property that matters) is exact and the upper one loose. Ratios of gaps
    would compare that noise, not the backoff."""
    times, delays = start_times(output, name), announced_delays(output, name)
    assert len(times) == len(delays) + 1, output
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    overheads = [gap - delay for gap, delay in zip(gaps, delays, strict=True)]
    assert all(-0.005 <= extra < 1.5 for extra in overheads), f"delays {delays}, gaps {gaps}"
