"""The Double Ratchet's KDFs (Signal's recommended algorithms, docs/spec/session.md section 3).

* ``KDF_RK(rk, dh_out)``: HKDF-SHA256(salt = rk, ikm = dh_out, info = ROOT_INFO, L = 64)
  -> (new root key, new chain key).
* ``KDF_CK(ck)``: message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
* Message encryption key: HKDF-SHA256(salt = 0x00*32, ikm = mk, info = MESSAGE_INFO,
  L = 32) -> AES-256-GCM key, used for exactly one message (its nonce is random and
  travels with the message, so a state restored from a backup never repeats a key and
  nonce pair: session.wire).
* The first root key: HKDF-SHA256(salt = 0x00*32, ikm = session secret,
  info = START_INFO || session id || IK_initiator || IK_responder, L = 32).

HKDF is :func:`sealpack.primitives.hkdf_sha256` (pyca's), the one every other part of
sealpack uses; KDF_CK's two HMACs are the standard library's one-shot ``hmac.digest``
(OpenSSL's HMAC). A hand-written HMAC over ``hashlib`` (padded keys through a lookup
table) measured ~0.6 us faster per HMAC and was dropped: it indexes a table with secret
bytes, for ~2 us per message.
"""

from __future__ import annotations

import hmac

from sealpack.primitives import hkdf_sha256

__all__ = [
    "MESSAGE_INFO",
    "ROOT_INFO",
    "START_INFO",
    "initial_root_key",
    "kdf_ck",
    "kdf_rk",
    "message_encryption_key",
]

ROOT_INFO = b"sealpack/v2/session-root"
MESSAGE_INFO = b"sealpack/v2/session-message"
START_INFO = b"sealpack/v2/session-start"
_ZERO = bytes(32)
_digest = hmac.digest


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_RK: return (new root key, new chain key)."""
    okm = hkdf_sha256(dh_out, salt=root_key, info=ROOT_INFO, length=64)
    return okm[:32], okm[32:]


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_CK: return (next chain key, message key)."""
    return _digest(chain_key, b"\x02", "sha256"), _digest(chain_key, b"\x01", "sha256")


def message_encryption_key(message_key: bytes) -> bytes:
    """The single-use AES-256-GCM key of one message key."""
    return hkdf_sha256(message_key, salt=_ZERO, info=MESSAGE_INFO, length=32)


def initial_root_key(
    secret: bytes, session_id: bytes, initiator_ik: bytes, responder_ik: bytes
) -> bytes:
    """The session's first root key from the start secret carried in the sealed start."""
    info = START_INFO + session_id + initiator_ik + responder_ik
    return hkdf_sha256(secret, salt=_ZERO, info=info, length=32)
