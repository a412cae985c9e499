"""Wycheproof through sealpack's own layers (what other test files do not cover yet).

Already covered elsewhere (see SECURITY.md):
* x25519, ed25519, hkdf_sha256 via sealpack.primitives: tests/test_primitives.py
* c2sp_chunked_encryption_aes_256_gcm and AES-GCM without AAD via the chunk layer:
  tests/envelope/test_stream.py

Here: AES-256-GCM *with* AAD through ``primitives._aes256gcm_*`` (the key wrap), every
other key/IV size refused by the wrapper; X25519 low-order and non-canonical public keys
refused by the point validation bundles and stanzas use, and X25519 through the opaque
key handle; ChaCha20-Poly1305 through a primitives wrapper when sealpack has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sealpack import errors, primitives
from sealpack.keys.secret import X25519Secret
from tests.conftest import load_wycheproof


def _cases(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    data = load_wycheproof(name)
    for group in data["testGroups"]:
        for test in group["tests"]:
            yield group, test


def _hex(test: dict[str, Any], *names: str) -> list[bytes]:
    return [bytes.fromhex(test[name]) for name in names]


def _check_aead(name: str, encrypt: Any, decrypt: Any) -> int:
    """Run one Wycheproof AEAD file through sealpack wrappers; return the checked count."""
    checked = 0
    for group, test in _cases(name):
        key, iv, aad, msg, ct, tag = _hex(test, "key", "iv", "aad", "msg", "ct", "tag")
        supported = group["keySize"] == 256 and group["ivSize"] == 96 and group["tagSize"] == 128
        if not supported:
            # sealpack only ever uses 256-bit keys and 96-bit nonces: others are refused.
            with pytest.raises(primitives.InvalidKeyError):
                encrypt(key, iv, msg, aad)
            with pytest.raises(errors.SealpackError):
                decrypt(key, iv, ct + tag, aad)
            continue
        if test["result"] == "valid":
            assert encrypt(key, iv, msg, aad) == ct + tag, test["tcId"]
            assert decrypt(key, iv, ct + tag, aad) == msg, test["tcId"]
        else:
            with pytest.raises(errors.TamperedError) as caught:
                decrypt(key, iv, ct + tag, aad)
            assert str(caught.value) == errors.TamperedError.MESSAGE
        checked += 1
    return checked


def test_aes_gcm_through_primitives_with_aad() -> None:
    checked = _check_aead(
        "aes_gcm_test.json", primitives._aes256gcm_encrypt, primitives._aes256gcm_decrypt
    )
    assert checked > 50


def test_chacha20_poly1305_through_primitives() -> None:
    encrypt = getattr(primitives, "_chacha20poly1305_encrypt", None)
    decrypt = getattr(primitives, "_chacha20poly1305_decrypt", None)
    if encrypt is None or decrypt is None:
        pytest.skip("sealpack.primitives has no ChaCha20-Poly1305 wrapper (see SECURITY.md)")
    assert _check_aead("chacha20_poly1305_test.json", encrypt, decrypt) > 50


def test_x25519_invalid_public_keys_are_refused_before_use() -> None:
    """Every public key giving an all-zero secret is refused by is_valid_x25519_public."""
    zero_publics = 0
    for _group, test in _cases("x25519_test.json"):
        public = bytes.fromhex(test["public"])
        if test["shared"] == "00" * 32:
            assert not primitives.is_valid_x25519_public(public), test["tcId"]
            zero_publics += 1
        if "NonCanonicalPublic" in test["flags"]:
            assert not primitives.is_valid_x25519_public(public), test["tcId"]
    assert zero_publics > 10


def test_x25519_through_the_opaque_key_handle() -> None:
    for _group, test in _cases("x25519_test.json"):
        private, public, shared = _hex(test, "private", "public", "shared")
        handle = X25519Secret(private)
        if shared == bytes(32):
            with pytest.raises(errors.TamperedError):
                handle.exchange(public)
        else:
            assert handle.exchange(public) == shared, test["tcId"]


def test_wrong_nonce_length_is_an_invalid_key_not_tampering() -> None:
    with pytest.raises(primitives.InvalidKeyError):
        primitives._aes256gcm_decrypt(bytes(32), bytes(16), bytes(32), b"")
