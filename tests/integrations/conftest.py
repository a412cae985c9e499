"""Fixtures shared by the Flower refusal tests (flwr is imported only when they are used)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def flower_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test as the Flower process the harness expects (env, passphrase)."""
    from sealpack.integrations.flower.client_keys import close_all
    from tests.integrations.flower_harness import flower_process

    with flower_process(monkeypatch):
        yield
    close_all()  # the mod keeps key store handles open per process


@pytest.fixture
def fed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flower_env: None) -> Any:
    """A server and three nodes with key stores, bound through a fake grid."""
    from tests.integrations.flower_harness import build_federation

    return build_federation(tmp_path, monkeypatch)
