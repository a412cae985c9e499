"""Refuse hash-flooding containers before they are built.

Python's hashes of int, float, Decimal, UUID, complex, tuple, frozenset and of
frozen dataclasses are not randomised: a frame can carry thousands of set elements
or dict keys with one hash value, and building the container then costs time
quadratic in their number. The decoder hashes the elements first (linear, C speed)
and refuses a container in which more than ``MAX_SHARED_HASH`` elements share one
hash value. Distinct values that Python hashes alike are rare in honest data
(``-1`` and ``-2``; ``0`` and ``2**61 - 1``), so the bound never bites them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from sealpack.errors import LimitExceededError

__all__ = ["MAX_SHARED_HASH", "check_hash_spread"]

MAX_SHARED_HASH = 16
"""Most elements of one set, frozenset or dict that may share a hash value."""


def check_hash_spread(keys: Collection[Any]) -> None:
    """Raise when more than ``MAX_SHARED_HASH`` of ``keys`` share one hash value.

    Args:
        keys: the decoded elements (or dict keys) a container is about to be built from.

    Raises:
        LimitExceededError: too many elements share a hash value (hash flooding).
        TypeError: an element is unhashable (the decoder reports a DecodeError).
    """
    if len(keys) <= MAX_SHARED_HASH:
        return
    hashes = list(map(hash, keys))
    if len(set(hashes)) == len(hashes):
        return
    worst = max(Counter(hashes).values())
    if worst > MAX_SHARED_HASH:
        raise LimitExceededError(
            f"{worst} elements of one set or dict share a hash value "
            f"(limit {MAX_SHARED_HASH}): refused as hash flooding"
        )
