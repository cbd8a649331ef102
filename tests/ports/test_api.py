"""The public surface of devstack.ports is what its __all__ says, and nothing is missing from it."""

from __future__ import annotations

import devstack.ports as ports


def test_all_names_exist() -> None:
    assert all(hasattr(ports, name) for name in ports.__all__)
    assert len(set(ports.__all__)) == len(ports.__all__)


def test_public_names_are_exported() -> None:
    public = {name for name in vars(ports) if not name.startswith("_") and name != "annotations"}
    modules = {"activation", "allocation", "contract", "fixes", "leases", "pool", "probe", "sockdiag",
               "store"}
    assert public - modules - set(ports.__all__) == set()
