"""The senders a session verifies a sealed blob against: only its peer's."""

from __future__ import annotations

from typing import Any

from sealpack import errors
from sealpack.keys import KeyBundle

__all__ = ["peer_senders"]


def peer_senders(given: Any, bundle: KeyBundle | None, peer_ik: bytes) -> tuple[Any, bool]:
    """The senders to verify a sealed blob against, and whether only the peer's are left.

    Bundles of other senders are dropped, so their blobs are refused before anything is
    consumed; a TrustStore is passed as it is (the sender is checked after opening).

    Args:
        given: the caller's ``senders=`` (bundles or a TrustStore), or None.
        bundle: the peer's bundle, if the session has it.
        peer_ik: the peer's identity key.

    Returns:
        (senders, True when they are the peer's bundles only).

    Raises:
        SealArgumentError: no senders and no bundle of the peer.
        UnknownSenderError: none of the given bundles is the peer's.
    """
    senders = given or ([bundle] if bundle is not None else None)
    if senders is None:
        raise errors.SealArgumentError("opening a sealed blob needs senders= or a peer bundle")
    if not isinstance(senders, list | tuple) or not all(isinstance(b, KeyBundle) for b in senders):
        return senders, False
    mine = [b for b in senders if b.identity_key == peer_ik]
    if not mine:
        raise errors.UnknownSenderError("none of the given senders is this session's peer")
    return mine, True
