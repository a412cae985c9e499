"""Fixtures shared by the exchange tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, MemoryTransport, Transport

MakeTransport = Callable[[], Transport]


@pytest.fixture(params=["memory", "directory"])
def make_transport(request: pytest.FixtureRequest, tmp_path: Path) -> MakeTransport:
    """Open the same shared transport again (in memory, or a datasite folder)."""
    if request.param == "memory":
        shared = MemoryTransport()
        return lambda: shared
    return lambda: DirectoryTransport(tmp_path / "site")
