"""The ratchet's KDFs (RFC 5869 over hmac.digest) equal pyca's HKDF and Wycheproof."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealpack.session import kdf
from tests.conftest import load_wycheproof

RNG = random.Random(15)


def _bytes(n: int) -> bytes:
    return bytes(RNG.getrandbits(8) for _ in range(n))


@pytest.mark.parametrize("key_size", [0, 1, 31, 32, 33, 63, 64, 65, 100, 130])
def test_hmac_equals_the_hmac_module(key_size: int) -> None:
    for message_size in (0, 1, 2, 31, 32, 55, 56, 64, 100, 1000):
        key, message = _bytes(key_size), _bytes(message_size)
        assert kdf.hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


@pytest.mark.parametrize("length", [1, 31, 32, 33, 44, 64, 65, 80, 100, 255 * 32])
@pytest.mark.parametrize("salt_size", [0, 16, 32, 64, 100])
def test_hkdf_equals_pycas_hkdf(length: int, salt_size: int) -> None:
    ikm, salt, info = _bytes(32), _bytes(salt_size), _bytes(20)
    expected = HKDF(hashes.SHA256(), length, salt or None, info).derive(ikm)
    assert kdf.hkdf(ikm, salt=salt, info=info, length=length) == expected


def test_hkdf_length_is_checked() -> None:
    for length in (0, 255 * 32 + 1):
        with pytest.raises(ValueError, match="length"):
            kdf.hkdf(b"k", salt=b"", info=b"", length=length)


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
        assert kdf.message_encryption_key(chain) == (key, bytes(12))


def test_hkdf_passes_wycheproof_hkdf_sha256() -> None:
    groups = load_wycheproof("hkdf_sha256_test.json")["testGroups"]
    cases = [case for group in groups for case in group["tests"]]
    assert len(cases) > 50
    for case in cases:
        ikm, salt, info = (bytes.fromhex(case[k]) for k in ("ikm", "salt", "info"))
        if case["result"] == "invalid":
            with pytest.raises(ValueError):
                kdf.hkdf(ikm, salt=salt, info=info, length=case["size"])
            continue
        okm = kdf.hkdf(ikm, salt=salt, info=info, length=case["size"])
        assert okm == bytes.fromhex(case["okm"]), case["tcId"]
