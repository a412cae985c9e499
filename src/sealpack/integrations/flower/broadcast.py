"""Sealing one instruction for many nodes, without letting one node fail the group.

The content is sealed once for every usable destination (one payload encryption). A
node whose bound bundle has expired is dropped before sealing; if sealing the group
still fails, each node is sealed alone and the nodes that fail are dropped. Every drop
is a recorded refusal ``(node, error class name)``; the other nodes get the instruction
(issue 19.12).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sealpack.api import seal
from sealpack.errors import SealpackError
from sealpack.keys import Identity, KeyBundle

__all__ = ["Sealed", "seal_for_nodes"]

MetadataFor = Callable[[list[int]], dict[str, Any]]


@dataclass(frozen=True)
class Sealed:
    """One sealed blob and the nodes it was sealed for."""

    nodes: list[int]
    blob: bytes


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
        ``(blobs, refusals)``: normally one blob for all usable nodes.

    Raises:
        SealpackError: The payload cannot be sealed for any node at all.
    """
    refusals = [(n, "PrekeyError") for n, b in sorted(bundles.items()) if b.is_expired(now=now)]
    usable = [n for n in sorted(bundles) if not bundles[n].is_expired(now=now)]
    if not usable:
        return [], refusals

    def seal_to(nodes: list[int]) -> Sealed:
        blob = seal(
            payload,
            sender=sender,
            recipients=[bundles[n] for n in nodes],
            metadata=metadata_for(nodes),
            expires_in=expires_in,
        )
        return Sealed(nodes, blob)

    try:
        return [seal_to(usable)], refusals
    except SealpackError:
        return _one_by_one(usable, seal_to, refusals)


def _one_by_one(
    nodes: list[int], seal_to: Callable[[list[int]], Sealed], refusals: list[tuple[int, str]]
) -> tuple[list[Sealed], list[tuple[int, str]]]:
    """Seal to each node alone, dropping (and recording) the nodes that fail."""
    blobs: list[Sealed] = []
    failure: SealpackError | None = None
    for node in nodes:
        try:
            blobs.append(seal_to([node]))
        except SealpackError as exc:
            refusals.append((node, type(exc).__name__))
            failure = exc
    if not blobs and failure is not None:
        raise failure  # no node can take it: the payload, not a recipient, is at fault
    return blobs, refusals
