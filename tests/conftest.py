"""Shared test fixtures: hypothesis profiles and access to ../shared/wycheproof."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
WYCHEPROOF_DIR = REPO_ROOT.parent / "shared" / "wycheproof"
VECTORS_DIR = REPO_ROOT / "vectors"

# "default" keeps `make test` bounded; `make fuzz` raises the example count.
settings.register_profile(
    "default",
    max_examples=int(os.environ.get("SEALPACK_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("SEALPACK_FUZZ_EXAMPLES", "20000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("fuzz" if os.environ.get("SEALPACK_FUZZ_EXAMPLES") else "default")


def load_wycheproof(name: str) -> dict[str, Any]:
    """Load ``../shared/wycheproof/<name>``; skip the calling test when it is absent."""
    path = WYCHEPROOF_DIR / name
    if not path.is_file():
        pytest.skip(f"wycheproof file {name} not present (../shared/wycheproof)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def load_vectors(name: str) -> dict[str, Any]:
    """Load one of the project's own known-answer files from vectors/."""
    data: dict[str, Any] = json.loads((VECTORS_DIR / name).read_text())
    return data


def vector_tests(name: str) -> list[dict[str, Any]]:
    """Every test case of a Wycheproof-shaped file in vectors/, across its groups."""
    data = load_vectors(name)
    return [t for group in data["testGroups"] for t in group["tests"]]


def feeder(chunks: Iterable[bytes]) -> Callable[[int], bytes]:
    """An rng that returns the given chunks in order (each request must match its size)."""
    queue = list(chunks)

    def rng(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n
        return chunk

    return rng
