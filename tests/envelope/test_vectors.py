"""vectors/envelope.json: opened by an independent reading of the spec, by the library,
and re-sealed from the same seeds to the same bytes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import blake3
import msgpack
import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from sealpack import errors, primitives
from sealpack.envelope import opener, randomness, sealer
from sealpack.keys import Identity
from tests.conftest import load_vectors

DATA = load_vectors("envelope.json")
GROUP = DATA["testGroups"][0]
TESTS = GROUP["tests"]


class Drbg:
    """DRBG(label) = SHA-256(label || u64be counter) blocks (as in the vector header)."""

    def __init__(self, label: str) -> None:
        self._label, self._counter, self._pool = label.encode(), 0, b""

    def __call__(self, n: int) -> bytes:
        while len(self._pool) < n:
            digest = hashes.Hash(hashes.SHA256())
            digest.update(self._label + self._counter.to_bytes(8, "big"))
            self._pool += digest.finalize()
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        return out


def _sha(data: bytes, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    digest = hashes.Hash(algorithm or hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def _x25519(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public)
    )


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, bytes(32), info).derive(ikm)


def _clamp(raw: bytes) -> bytes:
    key = bytearray(raw[:32])
    key[0] &= 248
    key[31] = (key[31] & 127) | 64
    return bytes(key)


def _pq_prekeys(keys: dict[str, Any]) -> dict[int, bytes]:
    return {int(i): bytes.fromhex(seed) for i, seed in keys.get("pqPrekeys", {}).items()}


MAX_RECIPIENTS = 4096
MAX_STANZA = 2048


def _split(blob: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Section 2 of envelope.md, nothing checked: signed prefix (magic .. stanzas_len),
    core bytes, stanza section, rest (payload and signature)."""
    core_end = 13 + int.from_bytes(blob[9:13], "big")
    header_end = core_end + 4 + int.from_bytes(blob[core_end : core_end + 4], "big")
    return (
        blob[: core_end + 4],
        blob[13:core_end],
        blob[core_end + 4 : header_end],
        blob[header_end:],
    )


def _directory(section: bytes) -> tuple[list[bytes], list[bytes]]:
    """Section 4: count, key ids, stanza lengths, stanzas; the structural checks."""
    if len(section) < 4:
        raise errors.TamperedError()
    n = int.from_bytes(section[:4], "big")
    if n > MAX_RECIPIENTS:
        raise errors.LimitExceededError()
    if n == 0 or len(section) < 4 + 20 * n:
        raise errors.TamperedError()
    ids = [section[4 + 16 * i : 20 + 16 * i] for i in range(n)]
    table = section[4 + 16 * n : 4 + 20 * n]
    lengths = [int.from_bytes(table[4 * i : 4 * i + 4], "big") for i in range(n)]
    if not all(1 <= x <= MAX_STANZA for x in lengths) or sum(lengths) != len(section) - 4 - 20 * n:
        raise errors.TamperedError()
    if len(set(ids)) != n:
        raise errors.TamperedError()
    starts = [4 + 20 * n + sum(lengths[:i]) for i in range(n)]
    return ids, [section[a : a + x] for a, x in zip(starts, lengths, strict=True)]


def _parse(blob: bytes) -> tuple[bytes, bytes, dict[str, Any], list[bytes], list[bytes], bytes]:
    """Sections 2-4: signed prefix, core bytes, core, key ids, stanzas (undecoded), payload."""
    if blob[:8] != b"SEALPACK":
        raise errors.TamperedError()
    if blob[8] != 2:
        raise errors.UnsupportedVersionError()
    prefix, core_bytes, section, rest = _split(blob)
    core = msgpack.unpackb(core_bytes)
    ids, stanzas = _directory(section)
    size, chunk = core["size"], core["chunk_size"]
    payload_len = 56 + size + 16 * (size // chunk + 1)
    if len(rest) != payload_len + 64:
        raise errors.TamperedError()
    signed = prefix + blake3.blake3(section).digest()  # section 7: the section by its digest
    return signed, core_bytes, core, ids, stanzas, rest[:payload_len]


def _my_stanza(ids: list[bytes], stanzas: list[bytes], my_kid: bytes) -> dict[str, Any]:
    """Section 8 step 8: my entry of the directory; decode only my stanza."""
    if my_kid not in ids:
        raise errors.NotARecipientError()
    try:
        stanza = msgpack.unpackb(stanzas[ids.index(my_kid)])
    except ValueError:  # msgpack's errors (extra data, bad bytes) are ValueErrors
        raise errors.TamperedError() from None
    keys = ["recipient", "spk", "opk", "pqpk", "ek", "kem_ct", "wrapped_key"]
    if list(stanza) != keys or stanza["recipient"] != my_kid:
        raise errors.TamperedError()
    return dict(stanza)


def _shared_key(keys: dict[str, Any], sender_ik: bytes, stanza: dict[str, Any]) -> bytes:
    """Section 4: DH1..DH4, the ML-KEM shared secret, HKDF with the PQXDH or X3DH info."""
    seed = bytes.fromhex(keys["identitySeed"])
    ik_priv = _clamp(_sha(seed, hashes.SHA512()))
    spk_priv = bytes.fromhex(keys["signedPrekeys"][str(stanza["spk"])])
    ika = primitives.ed25519_public_to_x25519(sender_ik)
    ek = stanza["ek"]
    dhs = [_x25519(spk_priv, ika), _x25519(ik_priv, ek), _x25519(spk_priv, ek)]
    if stanza["opk"] is not None:
        dhs.append(_x25519(bytes.fromhex(keys["oneTimePrekeys"][str(stanza["opk"])]), ek))
    if stanza["pqpk"] is None:
        return _hkdf(b"\xff" * 32 + b"".join(dhs), b"sealpack X3DH v2")
    kem_seed = _pq_prekeys(keys)[stanza["pqpk"]]
    secret = MLKEM768PrivateKey.from_seed_bytes(kem_seed).decapsulate(stanza["kem_ct"])
    return _hkdf(b"\xff" * 32 + b"".join(dhs) + secret, b"sealpack_CURVE25519_SHA-256_ML-KEM-768")


def spec_open(test: dict[str, Any]) -> bytes:
    """Open a vector following docs/spec/envelope.md step by step (pyca, msgpack, blake3)."""
    signed, core_bytes, core, ids, stanzas, payload = _parse(bytes.fromhex(test["blob"]))
    if core["sender"] != bytes.fromhex(test["sender"]["identityKey"]):
        raise errors.UnknownSenderError()
    message = b"sealpack/v2/signature\x00" + signed + blake3.blake3(payload).digest()
    try:
        Ed25519PublicKey.from_public_bytes(core["sender"]).verify(
            bytes.fromhex(test["blob"])[-64:], message
        )
    except InvalidSignature:
        raise errors.TamperedError() from None
    if test["now"] > core["expires"] + test["clockSkew"]:
        raise errors.ExpiredError()
    keys = test["recipient"]
    seed = bytes.fromhex(keys["identitySeed"])
    my_ik = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    my_kid = _sha(b"sealpack/key-id/v1" + my_ik)[:16]
    stanza = _my_stanza(ids, stanzas, my_kid)
    if stanza["pqpk"] is None and _pq_prekeys(keys):
        raise errors.DowngradeError()
    shared = _shared_key(keys, core["sender"], stanza)
    my_x = (
        X25519PrivateKey.from_private_bytes(_clamp(_sha(seed, hashes.SHA512())))
        .public_key()
        .public_bytes_raw()
    )
    ika = primitives.ed25519_public_to_x25519(core["sender"])
    ad = ika + my_x + b"sealpack/v2/stanza\x00" + _sha(core_bytes)
    try:
        content_key = AESGCM(_hkdf(shared, b"sealpack/v2/wrap-key")).decrypt(
            bytes(12), stanza["wrapped_key"], ad
        )
    except InvalidTag:
        raise errors.TamperedError() from None
    return _c2sp_decrypt(content_key, payload, core_bytes, core["size"], core["chunk_size"])


def _c2sp_decrypt(key: bytes, payload: bytes, core_bytes: bytes, size: int, chunk: int) -> bytes:
    context = b"sealpack/v2/payload\x00" + _sha(core_bytes)
    info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + payload[:24] + context
    okm = HKDFExpand(hashes.SHA512(), 76, info).derive(key)
    if okm[44:] != payload[24:56]:
        raise errors.TamperedError()
    aead, base, out, position = AESGCM(okm[:32]), int.from_bytes(okm[32:44], "big"), [], 56
    for index in range(size // chunk + 1):
        length = min(chunk, size - index * chunk) + 16
        nonce = (base ^ index).to_bytes(12, "big")
        try:
            out.append(aead.decrypt(nonce, payload[position : position + length], None))
        except InvalidTag:
            raise errors.TamperedError() from None
        position += length
    return b"".join(out)


def _identity(name: str) -> Identity:
    spec = GROUP["identities"][name]
    return Identity.generate(
        name,
        one_time_prekeys=spec["oneTimePrekeys"],
        pq_one_time_prekeys=spec["pqOneTimePrekeys"],
        post_quantum=spec["postQuantum"],
        rng=Drbg(spec["rngSeed"]),
        now=GROUP["generatedAt"],
    )


def test_vector_file_shape() -> None:
    assert DATA["algorithm"] == "sealpack-envelope-v2"
    assert DATA["numberOfTests"] == len(TESTS) >= 18
    assert {t["result"] for t in TESTS} == {"valid", "invalid"}
    errors_named = {t.get("error") for t in TESTS}
    assert {
        "TamperedError",
        "ExpiredError",
        "NotARecipientError",
        "DowngradeError",
        "UnsupportedVersionError",
    } <= errors_named
    flags = {flag for t in TESTS for flag in t["flags"]}
    assert {"ResignedTampered", "PQOneTime", "PQLastResort", "Classical"} <= flags
    assert {"OtherStanza", "ResignedDirectory", "UnalignedId", "OpaqueOther"} <= flags


@pytest.mark.parametrize(
    "test",
    [
        t
        for t in TESTS
        if {"ResignedTampered", "ResignedDirectory", "UnalignedId"} & set(t["flags"])
    ],
    ids=lambda t: f"tc{t['tcId']}",
)
def test_resigned_tampering_passes_the_signature(test: dict[str, Any]) -> None:
    """Re-signed tampered vectors carry a valid sender signature, so they exercise the
    commitment, key-unwrap and chunk checks, not only the signature."""
    blob = bytes.fromhex(test["blob"])
    prefix, _, section, rest = _split(blob)
    signed = prefix + blake3.blake3(section).digest()
    message = b"sealpack/v2/signature\x00" + signed + blake3.blake3(rest[:-64]).digest()
    sender = Ed25519PublicKey.from_public_bytes(bytes.fromhex(test["sender"]["identityKey"]))
    sender.verify(blob[-64:], message)  # raises InvalidSignature if not re-signed


@pytest.mark.parametrize("test", TESTS, ids=lambda t: f"tc{t['tcId']}")
def test_independent_spec_reading(test: dict[str, Any]) -> None:
    if test["result"] == "valid":
        assert spec_open(test) == bytes.fromhex(test["plaintext"])
    else:
        with pytest.raises(getattr(errors, test["error"])):
            spec_open(test)


@pytest.mark.parametrize("test", TESTS, ids=lambda t: f"tc{t['tcId']}")
def test_library_opens_vectors(test: dict[str, Any]) -> None:
    recipient = _identity(test["recipient"]["name"])
    sender = opener.Sender("alice", bytes.fromhex(test["sender"]["identityKey"]))
    options = opener.OpenOptions(now=test["now"], clock_skew=test["clockSkew"])
    blob = bytes.fromhex(test["blob"])

    def open_it() -> bytearray:
        plaintext, _ = opener.open_buffer(
            blob, recipient=recipient, resolve_sender=lambda _: sender, options=options
        )
        return plaintext

    if test["result"] == "valid":
        assert open_it() == bytes.fromhex(test["plaintext"])
    else:
        with pytest.raises(getattr(errors, test["error"])) as caught:
            open_it()
        if test["error"] == "TamperedError":
            assert str(caught.value) == errors.TamperedError.MESSAGE


@pytest.mark.parametrize("test", [t for t in TESTS if "seal" in t], ids=lambda t: f"tc{t['tcId']}")
def test_reseal_reproduces_bytes(test: dict[str, Any]) -> None:
    spec = test["seal"]
    sender = _identity(spec["senderName"])
    bundles = [
        _identity(r["name"])
        .bundle()
        .with_one_time_prekeys(r["oneTimePrekeys"], pq_ids=r["pqOneTimePrekeys"])
        for r in spec["recipients"]
    ]
    options = sealer.SealOptions(
        metadata=spec["metadata"],
        expires_in=spec["expiresIn"],
        chunk_size=spec["chunkSize"],
        allow_classical=spec["allowClassical"],
    )
    with _replayed(spec["kemEncapsulations"]), randomness.reproducible_for_vectors():
        blob = sealer.seal_buffers(
            [bytes.fromhex(test["plaintext"])],
            sender=sender,
            recipients=bundles,
            options=options,
            rng=Drbg(spec["rngSeed"]),
            now=spec["now"],
        )
    assert blob.hex() == test["blob"]


@contextlib.contextmanager
def _replayed(recorded: list[dict[str, str]]) -> Iterator[None]:
    """Replay the vector's ML-KEM encapsulations in order (OpenSSL draws their randomness)."""
    queue = list(recorded)

    def encapsulate(public: bytes) -> tuple[bytes, bytes]:
        item = queue.pop(0)
        assert item["publicKeySha256"] == _sha(public).hex()
        return bytes.fromhex(item["sharedSecret"]), bytes.fromhex(item["ciphertext"])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(primitives, "mlkem768_encapsulate", encapsulate)
        yield
    assert not queue
