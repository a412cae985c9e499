"""The Double Ratchet's KDFs (Signal's recommended algorithms, docs/spec/session.md section 3).

* ``KDF_RK(rk, dh_out)``: HKDF-SHA256(salt = rk, ikm = dh_out, info = ROOT_INFO, L = 64)
  -> (new root key, new chain key).
* ``KDF_CK(ck)``: message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
* Message encryption key: HKDF-SHA256(salt = 0x00*32, ikm = mk, info = MESSAGE_INFO,
  L = 32) -> AES-256-GCM key, used for exactly one message with the all-zero nonce (a
  single-use key needs no nonce; the envelope's key wrap does the same).
* The first root key: HKDF-SHA256(salt = 0x00*32, ikm = session secret,
  info = START_INFO || session id || IK_initiator || IK_responder, L = 32).

HKDF is written out with ``hmac`` (RFC 5869, tested equal to pyca's HKDF): pyca's
object setup costs more than the two HMACs a 64-byte output needs.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "MESSAGE_INFO",
    "ROOT_INFO",
    "START_INFO",
    "hkdf",
    "initial_root_key",
    "kdf_ck",
    "kdf_rk",
    "message_encryption_key",
]

ROOT_INFO = b"sealpack/v2/session-root"
MESSAGE_INFO = b"sealpack/v2/session-message"
START_INFO = b"sealpack/v2/session-start"
_ZERO = bytes(32)
_ZERO_NONCE = bytes(12)
_HASH_LEN = 32


def hkdf(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``length`` bytes (at most 255 * 32)."""
    if not 0 < length <= 255 * _HASH_LEN:
        raise ValueError("HKDF-SHA256 length must be 1..8160")
    prk = hmac.digest(salt or _ZERO, ikm, hashlib.sha256)
    block, out = b"", b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), hashlib.sha256)
        out += block
        counter += 1
    return out[:length]


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_RK: return (new root key, new chain key)."""
    okm = hkdf(dh_out, salt=root_key, info=ROOT_INFO, length=64)
    return okm[:32], okm[32:]


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_CK: return (next chain key, message key)."""
    return (
        hmac.digest(chain_key, b"\x02", hashlib.sha256),
        hmac.digest(chain_key, b"\x01", hashlib.sha256),
    )


def message_encryption_key(message_key: bytes) -> tuple[bytes, bytes]:
    """The single-use AES-256-GCM key of one message key, and its (all-zero) nonce."""
    return hkdf(message_key, salt=_ZERO, info=MESSAGE_INFO, length=32), _ZERO_NONCE


def initial_root_key(
    secret: bytes, session_id: bytes, initiator_ik: bytes, responder_ik: bytes
) -> bytes:
    """The session's first root key from the start secret carried in the sealed start."""
    info = START_INFO + session_id + initiator_ik + responder_ik
    return hkdf(secret, salt=_ZERO, info=info, length=32)
