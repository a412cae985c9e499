"""Sealing one instruction for many nodes, without letting one node fail the group.

The payload is encoded **first**, once, on its own: a payload the codec cannot encode
is the only failure that propagates (it would fail for every node). Then the encoded
payload is sealed once for every usable destination (one payload encryption). A node
whose bound bundle has expired or carries no post-quantum prekey is dropped before
sealing; if sealing the group still fails, each node is sealed alone and the nodes that
fail are dropped. Every drop is a recorded refusal ``(node, error class name)``; the
other nodes get the instruction, and no recipient can make this module raise (issue
19.12).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sealpack.api import seal
from sealpack.errors import SealpackError
from sealpack.keys import Identity, KeyBundle
from sealpack.serialization.codec import Codec, default_codec

__all__ = ["Sealed", "seal_for_nodes"]

MetadataFor = Callable[[list[int]], dict[str, Any]]


@dataclass(frozen=True)
class Sealed:
    """One sealed blob and the nodes it was sealed for."""

    nodes: list[int]
    blob: bytes


class _Encoded(Codec):
    """Hands ``seal`` the frame parts of one payload, encoded once beforehand.

    Encoding apart from sealing tells a payload failure (the codec raised: propagate)
    from a recipient failure (anything ``seal`` raises afterwards: refuse that node),
    without guessing from error classes; sealing to each node alone re-encodes nothing.
    """

    def __init__(self, parts: list[memoryview]) -> None:
        super().__init__()
        self._parts = parts

    def dumps_buffers(self, obj: object) -> list[memoryview]:
        """The parts encoded beforehand (``obj`` is that same payload)."""
        return self._parts


def seal_for_nodes(
    payload: object,
    bundles: Mapping[int, KeyBundle],
    *,
    sender: Identity,
    metadata_for: MetadataFor,
    expires_in: int,
    now: int,
) -> tuple[list[Sealed], list[tuple[int, str]]]:
    """Seal ``payload`` for every node of ``bundles`` that can receive it.

    Args:
        payload: The object to seal.
        bundles: Destination node id -> its bound (fresh) bundle.
        sender: The ServerApp's identity.
        metadata_for: The signed metadata for a blob sealed to these nodes.
        expires_in: Seconds the blob stays valid.
        now: The grid's current time (seconds since the epoch): bundles expired by then
            are dropped before sealing (the envelope itself uses the system clock).

    Returns:
        ``(blobs, refusals)``: normally one blob for all usable nodes; no blob when no
        node can take it (every node is then a refusal).

    Raises:
        SerializationTypeError, CycleError, LimitExceededError: The payload itself cannot
            be encoded (checked before any recipient is involved). Never for a recipient.
    """
    codec = _Encoded(default_codec().dumps_buffers(payload))  # the payload's own failures
    refusals = [(n, reason) for n, b in sorted(bundles.items()) if (reason := _unusable(b, now))]
    usable = [n for n in sorted(bundles) if not _unusable(bundles[n], now)]
    if not usable:
        return [], refusals

    def seal_to(nodes: list[int]) -> Sealed:
        blob = seal(
            payload,
            sender=sender,
            recipients=[bundles[n] for n in nodes],
            metadata=metadata_for(nodes),
            expires_in=expires_in,
            codec=codec,
        )
        return Sealed(nodes, blob)

    try:
        return [seal_to(usable)], refusals
    except SealpackError:
        return _one_by_one(usable, seal_to, refusals)


def _unusable(bundle: KeyBundle, now: int) -> str:
    """Why ``bundle`` cannot be sealed to (an error class name), or "" when it can."""
    if bundle.is_expired(now=now):
        return "PrekeyError"
    if bundle.pq_prekey is None:  # sealing never allows classical X3DH
        return "DowngradeError"
    return ""


def _one_by_one(
    nodes: list[int], seal_to: Callable[[list[int]], Sealed], refusals: list[tuple[int, str]]
) -> tuple[list[Sealed], list[tuple[int, str]]]:
    """Seal to each node alone, dropping (and recording) the nodes that fail."""
    blobs: list[Sealed] = []
    for node in nodes:
        try:
            blobs.append(seal_to([node]))
        except SealpackError as exc:  # the payload encoded: this node is at fault
            refusals.append((node, type(exc).__name__))
    return blobs, refusals
