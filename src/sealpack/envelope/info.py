"""Unverified header facts of a sealed blob, for ``sealpack.inspect``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sealpack.envelope import header as hdr
from sealpack.keys import fingerprint, key_id

__all__ = ["EnvelopeInfo", "RecipientInfo", "describe"]


@dataclass(frozen=True)
class RecipientInfo:
    """One stanza as written in the header (unverified).

    ``hybrid``: PQXDH (X25519 + ML-KEM-768) when True, classical X3DH when False.
    """

    key_id: str
    signed_prekey_id: int
    one_time_prekey_id: int | None
    pq_prekey_id: int | None = None
    hybrid: bool = False


@dataclass(frozen=True)
class EnvelopeInfo:
    """What the header of a blob claims. Nothing is verified: ``verified`` is always False.

    ``sender_fingerprint`` is computed only when asked for (it costs thousands of hash
    rounds on a key nobody authenticated; issue 19.4).
    """

    version: int
    sender_key_id: str
    sender_identity_key: str
    message_id: str
    created: int
    expires: int
    content_type: str
    metadata: dict[str, Any]
    payload_size: int
    chunk_size: int
    blob_size: int
    recipients: tuple[RecipientInfo, ...]
    verified: bool = False

    @property
    def sender_fingerprint(self) -> str:
        """The safety number of the claimed (unverified) sender key."""
        return fingerprint(bytes.fromhex(self.sender_identity_key))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the facts (bytes in metadata are shown as hex)."""
        return {
            "verified": self.verified,
            "version": self.version,
            "sender_key_id": self.sender_key_id,
            "sender_fingerprint": self.sender_fingerprint,
            "message_id": self.message_id,
            "created": self.created,
            "expires": self.expires,
            "content_type": self.content_type,
            "metadata": _jsonable(self.metadata),
            "payload_size": self.payload_size,
            "chunk_size": self.chunk_size,
            "blob_size": self.blob_size,
            "recipients": [
                {
                    "key_id": r.key_id,
                    "signed_prekey_id": r.signed_prekey_id,
                    "one_time_prekey_id": r.one_time_prekey_id,
                    "pq_prekey_id": r.pq_prekey_id,
                    "hybrid": r.hybrid,
                }
                for r in self.recipients
            ],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def describe(header: hdr.Header) -> EnvelopeInfo:
    """Turn a parsed header into its unverified facts."""
    core = header.core
    return EnvelopeInfo(
        version=hdr.VERSION,
        sender_key_id=key_id(core.sender_key).hex(),
        sender_identity_key=core.sender_key.hex(),
        message_id=core.message_id.hex(),
        created=core.created,
        expires=core.expires,
        content_type=core.content_type,
        metadata=dict(core.metadata),
        payload_size=core.size,
        chunk_size=core.chunk_size,
        blob_size=header.total_length,
        recipients=tuple(
            RecipientInfo(
                s.recipient_key_id.hex(),
                s.signed_prekey_id,
                s.one_time_prekey_id,
                s.pq_prekey_id,
                s.hybrid,
            )
            for s in header.stanzas
        ),
    )
