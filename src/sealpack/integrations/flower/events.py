"""A record of what the ServerApp side sealed and unsealed (for logs, examples, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SealEvent", "array_bytes", "make_event"]


@dataclass(frozen=True)
class SealEvent:
    """One seal or unseal done by :class:`~sealpack.integrations.flower.SealedGrid`."""

    action: str  # "seal" or "unseal"
    kind: str  # "instruction", "reply" or "hello"
    nodes: tuple[int, ...]
    array_bytes: int  # bytes of numpy arrays in the plaintext content
    sealed_bytes: int
    seconds: float


def make_event(
    action: str, kind: str, nodes: Sequence[int], plain: object, size: int, started: float
) -> SealEvent:
    """Describe one seal/unseal that began at ``started`` (a ``time.perf_counter()`` value).

    Args:
        action: ``"seal"`` or ``"unseal"``.
        kind: ``"instruction"``, ``"reply"`` or ``"hello"``.
        nodes: The Flower node ids concerned.
        plain: The plaintext content (its numpy arrays are counted).
        size: Bytes of the sealed blob.
        started: When the operation began.

    Returns:
        The event, timed until now.
    """
    seconds = time.perf_counter() - started
    return SealEvent(action, kind, tuple(nodes), array_bytes(plain), size, seconds)


def array_bytes(plain: object) -> int:
    """Total bytes of the numpy arrays inside a plain value (dicts, lists, tuples).

    Args:
        plain: A value as produced by ``records.recorddict_to_plain``.

    Returns:
        The sum of ``nbytes`` of every numpy array found.
    """
    if isinstance(plain, np.ndarray):
        return int(plain.nbytes)
    if isinstance(plain, dict):
        return sum(array_bytes(v) for v in plain.values())
    if isinstance(plain, list | tuple):
        return sum(array_bytes(v) for v in plain)
    return 0
