"""Soak mode runs far longer than the suite's per-test timeout allows: give its tests 15 minutes each."""

from __future__ import annotations

import pytest

from .kit import SOAK


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if SOAK:
        for item in items:
            if "reliability" in item.nodeid:
                item.add_marker(pytest.mark.timeout(900))
