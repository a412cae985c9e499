"""The Double Ratchet's KDFs (Signal's recommended algorithms, docs/spec/session.md section 3).

* ``KDF_RK(rk, dh_out)``: HKDF-SHA256(salt = rk, ikm = dh_out, info = ROOT_INFO, L = 64)
  -> (new root key, new chain key).
* ``KDF_CK(ck)``: message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
* Message encryption key: HKDF-SHA256(salt = 0x00*32, ikm = mk, info = MESSAGE_INFO,
  L = 32) -> AES-256-GCM key, used for exactly one message with the all-zero nonce (a
  single-use key needs no nonce; the envelope's key wrap does the same).
* The first root key: HKDF-SHA256(salt = 0x00*32, ikm = session secret,
  info = START_INFO || session id || IK_initiator || IK_responder, L = 32).

HMAC-SHA256 is the standard library's one-shot ``hmac.digest`` (OpenSSL's HMAC), and
HKDF is RFC 5869 over it (extract, then expand block by block), tested equal to pyca's
HKDF and to the Wycheproof HKDF-SHA256 vectors. Sealing or opening a message costs
four HMACs; pyca's HKDF object costs more per call than the hashing it does, which is
why the ratchet does not build one per message. A hand-written HMAC over ``hashlib``
(padded keys through a lookup table) measured ~0.6 us faster per HMAC and was dropped:
it indexes a table with secret bytes, for ~2 us per message.
"""

from __future__ import annotations

import hmac

__all__ = [
    "MESSAGE_INFO",
    "ROOT_INFO",
    "START_INFO",
    "hkdf",
    "hmac_sha256",
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
_digest = hmac.digest


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256(key, message) (RFC 2104), through ``hmac.digest``."""
    return _digest(key, message, "sha256")


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    block = _digest(prk, info + b"\x01", "sha256")
    out = block
    counter = 2
    while len(out) < length:
        block = _digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def hkdf(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``length`` bytes (at most 255 * 32).

    Raises:
        ValueError: ``length`` out of range.
    """
    if not 0 < length <= 255 * _HASH_LEN:
        raise ValueError("HKDF-SHA256 length must be 1..8160")
    return _expand(hmac_sha256(salt or _ZERO, ikm), info, length)


def kdf_rk(root_key: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_RK: return (new root key, new chain key)."""
    okm = _expand(hmac_sha256(root_key, dh_out), ROOT_INFO, 64)
    return okm[:32], okm[32:]


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """Signal's KDF_CK: return (next chain key, message key)."""
    return _digest(chain_key, b"\x02", "sha256"), _digest(chain_key, b"\x01", "sha256")


def message_encryption_key(message_key: bytes) -> tuple[bytes, bytes]:
    """The single-use AES-256-GCM key of one message key, and its (all-zero) nonce."""
    prk = _digest(_ZERO, message_key, "sha256")
    return _digest(prk, MESSAGE_INFO + b"\x01", "sha256"), _ZERO_NONCE


def initial_root_key(
    secret: bytes, session_id: bytes, initiator_ik: bytes, responder_ik: bytes
) -> bytes:
    """The session's first root key from the start secret carried in the sealed start."""
    info = START_INFO + session_id + initiator_ik + responder_ik
    return hkdf(secret, salt=_ZERO, info=info, length=32)
