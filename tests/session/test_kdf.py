"""The ratchet's KDFs (session.md section 3) recomputed with hmac and pyca's HKDF."""

from __future__ import annotations

import hashlib
import hmac
import random

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealpack.session import kdf

RNG = random.Random(15)


def _bytes(n: int) -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(n))


def test_ratchet_kdfs_follow_their_definitions() -> None:
    """session.md section 3, recomputed with hmac and pyca's HKDF."""
    for _ in range(20):
        root, chain, dh_out = _bytes(32), _bytes(32), _bytes(32)
        okm = HKDF(hashes.SHA256(), 64, root, kdf.ROOT_INFO).derive(dh_out)
        assert kdf.kdf_rk(root, dh_out) == (okm[:32], okm[32:])
        assert kdf.kdf_ck(chain) == (
            hmac.digest(chain, b"\x02", hashlib.sha256),
            hmac.digest(chain, b"\x01", hashlib.sha256),
        )
        key = HKDF(hashes.SHA256(), 32, bytes(32), kdf.MESSAGE_INFO).derive(chain)
        assert kdf.message_encryption_key(chain) == key


def test_initial_root_key_follows_its_definition() -> None:
    secret, sid, ik_i, ik_r = _bytes(32), _bytes(16), _bytes(32), _bytes(32)
    info = kdf.START_INFO + sid + ik_i + ik_r
    expected = HKDF(hashes.SHA256(), 32, bytes(32), info).derive(secret)
    assert kdf.initial_root_key(secret, sid, ik_i, ik_r) == expected
