"""Chunked AES-256-GCM: C2SP Wycheproof vectors, AES-GCM vectors, round trips, hostile input."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from sealpack.envelope import stream
from sealpack.errors import TamperedError
from tests.conftest import load_wycheproof

KEY = bytes(range(32))


def _c2sp_tests() -> list[dict[str, Any]]:
    data = load_wycheproof("c2sp_chunked_encryption_aes_256_gcm_test.json")
    return [test for group in data["testGroups"] for test in group["tests"]]


def test_c2sp_wycheproof_vectors() -> None:
    tests = _c2sp_tests()
    assert len(tests) >= 30
    for test in tests:
        key = bytes.fromhex(test["key"])
        ct = zlib.decompress(bytes.fromhex(test["ct"]))
        ctx = bytes.fromhex(test["ctx"])
        if test["result"] == "valid":
            message = stream.decrypt(key, ct, context=ctx)
            assert len(message) == test["msgLength"], test["tcId"]
            assert hashlib.sha512(message).hexdigest() == test["msgSha512"], test["tcId"]
            # Encryption with the vector's salt reproduces the ciphertext exactly.
            again = stream.ChunkEncryptor(key, context=ctx, salt=ct[:24])
            assert again.prefix == ct[:56]
            assert stream.encrypt(key, message, context=ctx, rng=lambda n, ct=ct: ct[:n]) == ct
        else:
            with pytest.raises((TamperedError, ValueError)):
                stream.decrypt(key, ct, context=ctx)


def test_c2sp_derived_keys_match_raw_mode() -> None:
    for test in _c2sp_tests():
        if "aeadKey" not in test:
            continue
        ct = zlib.decompress(bytes.fromhex(test["ct"]))
        key, base_nonce, _ = stream._derive(
            bytes.fromhex(test["key"]), ct[:24], bytes.fromhex(test["ctx"])
        )
        assert key.hex() == test["aeadKey"]
        assert base_nonce.to_bytes(12, "big").hex() == test["baseNonce"]


def test_header_failures_rejected_before_any_chunk() -> None:
    for test in _c2sp_tests():
        if "HeaderFailure" not in test["flags"] or len(bytes.fromhex(test["key"])) != 32:
            continue
        ct = zlib.decompress(bytes.fromhex(test["ct"]))
        with pytest.raises(TamperedError):
            stream.ChunkDecryptor(
                bytes.fromhex(test["key"]), ct[:56], context=bytes.fromhex(test["ctx"])
            )


def test_aes_gcm_wycheproof_through_chunk_layer() -> None:
    """The chunk layer's AES-GCM calls agree with Wycheproof for 256-bit keys, 96-bit IVs."""
    data = load_wycheproof("aes_gcm_test.json")
    checked = 0
    for group in data["testGroups"]:
        if group["keySize"] != 256 or group["ivSize"] != 96 or group["tagSize"] != 128:
            continue
        for test in group["tests"]:
            if test["aad"]:
                continue  # the chunk layer never uses AAD
            aead = AESGCM(bytes.fromhex(test["key"]))
            nonce = bytes.fromhex(test["iv"])
            msg = bytes.fromhex(test["msg"])
            sealed = bytes.fromhex(test["ct"] + test["tag"])
            out = memoryview(bytearray(len(msg)))
            decryptor = stream.ChunkDecryptor.__new__(stream.ChunkDecryptor)
            decryptor._aead = aead
            decryptor._base_nonce = int.from_bytes(nonce, "big")
            decryptor.chunk_size = max(len(msg), 1)
            if test["result"] == "valid":
                decryptor.decrypt_chunk_into(0, sealed, out)
                assert bytes(out) == msg
                encryptor = stream.ChunkEncryptor.__new__(stream.ChunkEncryptor)
                encryptor._aead = aead
                encryptor._base_nonce = decryptor._base_nonce
                encrypted = memoryview(bytearray(len(sealed)))
                encryptor.encrypt_chunk_into(0, msg, encrypted)
                assert bytes(encrypted) == sealed
            else:
                with pytest.raises(TamperedError):
                    decryptor.decrypt_chunk_into(0, sealed, out)
            checked += 1
    assert checked > 20


@given(st.binary(max_size=5000), st.sampled_from([16, 64, 1024]), st.binary(max_size=40))
def test_round_trip(message: bytes, chunk_size: int, context: bytes) -> None:
    ct = stream.encrypt(KEY, message, context=context, chunk_size=chunk_size)
    assert len(ct) == stream.ciphertext_length(len(message), chunk_size)
    assert stream.plaintext_length(len(ct), chunk_size) == len(message)
    assert stream.decrypt(KEY, ct, context=context, chunk_size=chunk_size) == message


@given(st.lists(st.binary(max_size=300), max_size=8), st.sampled_from([1, 16, 64, 128]))
def test_chunks_span_buffers(buffers: list[bytes], chunk_size: int) -> None:
    joined = b"".join(buffers)
    chunks = [bytes(c) for c in stream.iter_plaintext_chunks(buffers, chunk_size)]
    assert b"".join(chunks) == joined
    assert all(len(c) == chunk_size for c in chunks[:-1])
    assert len(chunks[-1]) < chunk_size
    assert len(chunks) == len(joined) // chunk_size + 1


def _sample_ct() -> bytes:
    return stream.encrypt(KEY, bytes(range(256)) * 3, chunk_size=64)


@given(st.data())
def test_any_bit_flip_fails(data: st.DataObject) -> None:
    ct = bytearray(_sample_ct())
    position = data.draw(st.integers(0, len(ct) - 1))
    ct[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(TamperedError):
        stream.decrypt(KEY, ct, chunk_size=64)


@given(st.data())
def test_truncation_and_extension_fail(data: st.DataObject) -> None:
    ct = _sample_ct()
    cut = data.draw(st.integers(0, len(ct) - 1))
    with pytest.raises(TamperedError):
        stream.decrypt(KEY, ct[:cut], chunk_size=64)
    extra = data.draw(st.binary(min_size=1, max_size=100))
    with pytest.raises(TamperedError):
        stream.decrypt(KEY, ct + extra, chunk_size=64)


def test_reorder_duplicate_and_drop_fail() -> None:
    ct = _sample_ct()
    body = ct[56:]
    size = 64 + 16
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    assert len(chunks) == 13
    swapped = chunks[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]
    duplicated = [*chunks[:2], chunks[1], *chunks[2:]]
    dropped = chunks[:3] + chunks[4:]
    no_final = chunks[:-1]
    for variant in (swapped, duplicated, dropped, no_final):
        with pytest.raises(TamperedError):
            stream.decrypt(KEY, ct[:56] + b"".join(variant), chunk_size=64)


def test_wrong_key_context_or_chunk_size_fail() -> None:
    ct = _sample_ct()
    for kwargs in ({"context": b"x"}, {"chunk_size": 32}, {"chunk_size": 128}):
        with pytest.raises(TamperedError):
            stream.decrypt(KEY, ct, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TamperedError):
        stream.decrypt(bytes(32), ct, chunk_size=64)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        stream.encrypt(b"short", b"")
    with pytest.raises(ValueError):
        stream.encrypt(KEY, b"", chunk_size=100)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(stream.ChunkEncryptor(KEY))
