"""The signed mode: an Ed25519 signature a third party can check (session.md section 7).

A signed session message carries, inside its encrypted payload, the sender's identity
signature ``Identity.sign(m, purpose="sealpack.session.signed.v2")`` over
``m = IK_sender || IK_recipient || session id || BLAKE3-256(body)``. The recipient keeps
a :class:`SignedProof` and can show it (with the body) to anyone who knows the sender's
identity key. An unsigned message is authenticated by the ratchet's keys only, which the
recipient also holds: it convinces the recipient and nobody else (deniable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import blake3

from sealpack import errors, fobs
from sealpack.keys.app_signature import verify_app_signature

__all__ = ["PURPOSE", "SIGNATURE_SIZE", "SignedProof", "body_digest", "signed_bytes"]

PURPOSE = "sealpack.session.signed.v2"
SIGNATURE_SIZE = 64


def body_digest(parts: Sequence[bytes | bytearray | memoryview]) -> bytes:
    """BLAKE3-256 of the concatenated body parts."""
    hasher = blake3.blake3()
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def signed_bytes(sender_ik: bytes, recipient_ik: bytes, session_id: bytes, digest: bytes) -> bytes:
    """The message the signature covers (before the application-signature label)."""
    return sender_ik + recipient_ik + session_id + digest


@dataclass(frozen=True)
class SignedProof:
    """What a recipient can show a third party: who signed which body to whom."""

    sender_identity_key: bytes
    recipient_identity_key: bytes
    session_id: bytes
    body: bytes
    signature: bytes

    def verify(self) -> bool:
        """True when the signature is the sender identity key's over this body."""
        message = signed_bytes(
            self.sender_identity_key,
            self.recipient_identity_key,
            self.session_id,
            body_digest([self.body]),
        )
        return verify_app_signature(
            self.sender_identity_key, message, self.signature, purpose=PURPOSE
        )

    def message(self, *, expect: Any = None) -> Any:
        """Decode the signed body (after :meth:`verify`).

        Raises:
            TamperedError: the signature does not verify.
            DecodeError: the body is not a codec frame.
        """
        if not self.verify():
            raise errors.TamperedError()
        return fobs.loads(self.body, expect=expect)
