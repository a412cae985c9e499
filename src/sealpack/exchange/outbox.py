"""Seal once, deliver to many: the sending half of :class:`~sealpack.exchange.peer.Peer`.

One sealed blob goes to every recipient's inbox (one payload encryption for N
recipients). Streaming mode never builds the blob in memory: for one recipient
``seal_to`` writes straight into the inbox's temporary file; for several it
writes one staged temporary file that is then copied to each inbox.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from sealpack import api, errors
from sealpack.exchange.claims import encode_claim
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, KeyBundle

__all__ = [
    "ProgressCallback",
    "claimed_recipients",
    "distinct_recipients",
    "restrict_to_claimed_prekey",
    "seal_and_deliver",
    "seal_options",
]

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a payload is sealed or opened."""

_COPY_CHUNK = 1 << 20
_CLAIM_ATTEMPTS = 64


def distinct_recipients(to: Sequence[str]) -> list[str]:
    """Validate recipient names and drop repeats, keeping the first order.

    Args:
        to: the requested recipients.

    Returns:
        The distinct names.

    Raises:
        errors.TransportError: an invalid name, or no recipient at all.
    """
    names = [check_peer_name(name) for name in dict.fromkeys(to)]
    if not names:
        raise errors.TransportError("send needs at least one recipient")
    return names


def claimed_recipients(
    transport: Transport,
    to: Sequence[str],
    fetch: Callable[[str], KeyBundle],
    claimer: Identity,
) -> tuple[list[str], list[KeyBundle]]:
    """Validate the recipients, then fetch each one's bundle and claim a prekey for it.

    Args:
        transport: where the prekeys are offered.
        to: the requested recipients.
        fetch: returns a recipient's trusted bundle (``Peer.fetch_bundle``).
        claimer: the sending identity, which signs each claim.

    Returns:
        The distinct names and, for each, its bundle restricted to one claimed prekey.

    Raises:
        errors.SealpackError: an invalid, unknown or untrusted recipient (from ``fetch``).
    """
    names = distinct_recipients(to)
    bundles = [restrict_to_claimed_prekey(transport, name, fetch(name), claimer) for name in names]
    return names, bundles


def restrict_to_claimed_prekey(
    transport: Transport, name: str, bundle: KeyBundle, claimer: Identity
) -> KeyBundle:
    """Claim one of the peer's offered one-time prekeys (signed) and restrict ``bundle`` to it.

    The claim stored with the prekey is signed by ``claimer``
    (:func:`~sealpack.exchange.claims.encode_claim`): the recipient opens a blob
    using that prekey only from the claimer. Claimed ids missing from the
    (verified) bundle are skipped; a bundle without one-time prekeys is returned
    when none is left (the key agreement then uses the signed prekey alone). PQ
    one-time prekeys are not offered by the datasite (the PQ last-resort prekey is used).

    Args:
        transport: where the prekeys are offered.
        name: the recipient.
        bundle: the recipient's trusted bundle.
        claimer: the sending identity.

    Returns:
        The bundle holding the claimed prekey, or none.

    Raises:
        errors.TransportError: the recipient is unknown to the transport.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        key_id = transport.claim_one_time_prekey(
            name, claim=lambda prekey_id: encode_claim(claimer, bundle, prekey_id)
        )
        if key_id is None:
            break
        if bundle.one_time_prekey(key_id) is not None:
            return bundle.with_one_time_prekeys([key_id])
    return bundle.with_one_time_prekeys([])


def seal_options(
    sender: Identity,
    bundles: list[KeyBundle],
    metadata: Mapping[str, Any] | None,
    *,
    expires_in: int,
    now: int | None,
) -> dict[str, Any]:
    """Build the keyword arguments of ``api.seal`` / ``api.seal_to`` for one message.

    Args:
        sender: the signing identity.
        bundles: the recipients' bundles.
        metadata: application metadata (copied).
        expires_in: validity window in seconds.
        now: sealing time.

    Returns:
        The keyword arguments.
    """
    return {
        "sender": sender,
        "recipients": bundles,
        "metadata": dict(metadata or {}),
        "expires_in": expires_in,
        "now": now,
    }


def seal_and_deliver(
    transport: Transport,
    obj: object,
    recipients: Sequence[str],
    sender_name: str,
    seal_options: Mapping[str, Any],
    *,
    stream: bool,
    progress: ProgressCallback | None,
) -> list[str]:
    """Seal ``obj`` once with ``seal_options`` and deliver the blob to each recipient.

    Args:
        transport: where the inboxes are.
        obj: the object to seal.
        recipients: inbox owners, in delivery order.
        sender_name: this peer's name (recorded in the message ids).
        seal_options: keyword arguments for :func:`sealpack.api.seal`.
        stream: use :func:`sealpack.api.seal_to` (bounded memory).
        progress: hears (bytes sealed, total).

    Returns:
        The message ids, one per recipient.

    Raises:
        errors.SealpackError: the object cannot be sealed or a recipient is unknown.
    """
    if not stream:
        blob = api.seal(obj, **seal_options)
        if progress is not None:
            progress(len(blob), len(blob))
        return [transport.deliver(name, blob, sender=sender_name) for name in recipients]
    options = {**seal_options, "progress": progress}
    return _stream_and_deliver(transport, obj, recipients, sender_name, options)


def _stream_and_deliver(
    transport: Transport,
    obj: object,
    recipients: Sequence[str],
    sender_name: str,
    options: Mapping[str, Any],
) -> list[str]:
    """Seal with ``seal_to`` into the one inbox, or into one staged file copied to each."""
    if len(recipients) == 1:
        writer = _sealing_writer(obj, options)
        return [transport.deliver(recipients[0], writer, sender=sender_name)]
    with tempfile.TemporaryFile() as staged:
        api.seal_to(obj, staged, **options)
        return [
            transport.deliver(name, _copying_writer(staged), sender=sender_name)
            for name in recipients
        ]


def _sealing_writer(obj: object, options: Mapping[str, Any]) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        api.seal_to(obj, out, **options)

    return write


def _copying_writer(source: BinaryIO) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        source.seek(0)
        shutil.copyfileobj(source, out, _COPY_CHUNK)

    return write
