"""sealpack.primitives against Wycheproof (x25519, ed25519, hkdf_sha256) and own checks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors, primitives
from tests.conftest import load_wycheproof


def _cases(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    data = load_wycheproof(name)
    return [(group, test) for group in data["testGroups"] for test in group["tests"]]


def test_wycheproof_x25519() -> None:
    cases = _cases("x25519_test.json")
    assert len(cases) > 500
    for _group, case in cases:
        private, public = bytes.fromhex(case["private"]), bytes.fromhex(case["public"])
        expected = bytes.fromhex(case["shared"])
        if expected == bytes(32):
            # An all-zero shared secret is refused by design (the file marks these
            # "acceptable": an implementation may reject them).
            assert case["result"] == "acceptable", case["tcId"]
            with pytest.raises(errors.TamperedError):
                primitives.x25519(private, public)
            continue
        assert case["result"] in ("valid", "acceptable"), case["tcId"]
        assert primitives.x25519(private, public) == expected, case["tcId"]


def test_wycheproof_ed25519() -> None:
    cases = _cases("ed25519_test.json")
    assert len(cases) > 100
    for group, case in cases:
        public = bytes.fromhex(group["publicKey"]["pk"])
        ok = primitives.ed25519_verify(
            public, bytes.fromhex(case["sig"]), bytes.fromhex(case["msg"])
        )
        assert ok is (case["result"] == "valid"), case["tcId"]


def test_wycheproof_hkdf_sha256() -> None:
    cases = _cases("hkdf_sha256_test.json")
    assert len(cases) > 50
    for _group, case in cases:
        args = {k: bytes.fromhex(case[k]) for k in ("ikm", "salt", "info")}
        if case["result"] == "invalid":
            with pytest.raises(primitives.InvalidKeyError):
                primitives.hkdf_sha256(
                    args["ikm"], salt=args["salt"], info=args["info"], length=case["size"]
                )
            continue
        okm = primitives.hkdf_sha256(
            args["ikm"], salt=args["salt"], info=args["info"], length=case["size"]
        )
        assert okm == bytes.fromhex(case["okm"]), case["tcId"]


@given(seed=st.binary(min_size=32, max_size=32))
def test_birational_map_matches_seed_derivation(seed: bytes) -> None:
    """u(Ed25519 public of seed) == X25519 public of clamp(SHA-512(seed)[:32])."""
    ed_public = primitives.ed25519_public_from_seed(seed)
    x_private = primitives.ed25519_seed_to_x25519_private(seed)
    assert primitives.ed25519_public_to_x25519(ed_public) == (
        primitives.x25519_public_from_private(x_private)
    )


def test_seed_to_x25519_private_is_clamped() -> None:
    key = primitives.ed25519_seed_to_x25519_private(bytes(range(32)))
    assert key[0] & 7 == 0 and key[31] & 0x80 == 0 and key[31] & 0x40


P = 2**255 - 19
SMALL_ORDER_ED25519 = [
    (1).to_bytes(32, "little"),  # identity
    (P - 1).to_bytes(32, "little"),  # (0, -1), order 2
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    bytes.fromhex("0000000000000000000000000000000000000000000000000000000000000080"),  # order 4
]


@pytest.mark.parametrize("public", SMALL_ORDER_ED25519)
def test_small_order_ed25519_points_rejected(public: bytes) -> None:
    with pytest.raises(primitives.InvalidKeyError):
        primitives.ed25519_public_to_x25519(public)


@pytest.mark.parametrize(
    "public",
    [
        (P).to_bytes(32, "little"),  # y = p: non-canonical
        (P + 2).to_bytes(32, "little"),
        (2).to_bytes(32, "little"),  # y = 2 is not on the curve
        bytes(31),
        b"\x00" * 33,
        (1 | 1 << 255).to_bytes(32, "little"),  # x = 0 with the sign bit set
    ],
)
def test_invalid_ed25519_points_rejected(public: bytes) -> None:
    with pytest.raises(primitives.InvalidKeyError):
        primitives.ed25519_public_to_x25519(public)


def test_x25519_validity() -> None:
    good = primitives.x25519_public_from_private(b"\x07" * 32)
    assert primitives.is_valid_x25519_public(good)
    for bad in (
        bytes(32),
        (1).to_bytes(32, "little"),
        (P - 1).to_bytes(32, "little"),
        (P).to_bytes(32, "little"),
        b"\xff" * 32,
        good[:31],
    ):
        assert not primitives.is_valid_x25519_public(bad)


AEADS = {
    "aes256gcm": (primitives._aes256gcm_encrypt, primitives._aes256gcm_decrypt),
    "chacha20poly1305": (
        primitives._chacha20poly1305_encrypt,
        primitives._chacha20poly1305_decrypt,
    ),
}


@pytest.mark.parametrize("name", sorted(AEADS))
@given(
    key=st.binary(min_size=32, max_size=32),
    nonce=st.binary(min_size=12, max_size=12),
    data=st.binary(max_size=256),
    aad=st.binary(max_size=32),
)
def test_aead_round_trip_and_tamper(
    name: str, key: bytes, nonce: bytes, data: bytes, aad: bytes
) -> None:
    encrypt, decrypt = AEADS[name]
    sealed = encrypt(key, nonce, data, aad)
    assert len(sealed) == len(data) + 16
    assert decrypt(key, nonce, sealed, aad) == data
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    with pytest.raises(errors.TamperedError):
        decrypt(key, nonce, flipped, aad)
    with pytest.raises(errors.TamperedError):
        decrypt(key, nonce, sealed, aad + b"x")


@pytest.mark.parametrize("name", sorted(AEADS))
@pytest.mark.parametrize(("key_size", "nonce_size"), [(16, 12), (31, 12), (32, 8), (32, 16)])
def test_aead_wrong_key_or_nonce_length_is_invalid_key(
    name: str, key_size: int, nonce_size: int
) -> None:
    """A wrong key or nonce length is a caller error, never reported as tampering."""
    encrypt, decrypt = AEADS[name]
    with pytest.raises(primitives.InvalidKeyError):
        encrypt(bytes(key_size), bytes(nonce_size), b"data", b"")
    with pytest.raises(primitives.InvalidKeyError):
        decrypt(bytes(key_size), bytes(nonce_size), bytes(32), b"")
    with pytest.raises(errors.TamperedError):
        decrypt(bytes(32), bytes(12), b"short", b"")


def test_chacha20_poly1305_rfc8439_vector() -> None:
    """RFC 8439 section 2.8.2."""
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    text = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
        b"for the future, sunscreen would be it."
    )
    sealed = primitives._chacha20poly1305_encrypt(key, nonce, text, aad)
    assert sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert sealed[:8].hex() == "d31a8d34648e60db"
    assert primitives._chacha20poly1305_decrypt(key, nonce, sealed, aad) == text


def test_bad_lengths_are_sealpack_errors() -> None:
    with pytest.raises(primitives.InvalidKeyError):
        primitives.x25519(b"\x01" * 31, b"\x09" + bytes(31))
    with pytest.raises(primitives.InvalidKeyError):
        primitives._aes256gcm_encrypt(bytes(16), bytes(12), b"", b"")
    with pytest.raises(errors.TamperedError):
        primitives._aes256gcm_decrypt(bytes(32), bytes(12), b"short", b"")
    with pytest.raises(primitives.InvalidKeyError):
        primitives.random_bytes(8, rng=lambda n: b"\x00" * (n - 1))
    assert not primitives.ed25519_verify(b"\x01" * 31, bytes(64), b"m")
    assert issubclass(primitives.InvalidKeyError, errors.SealpackError)


def test_sign_verify() -> None:
    seed = b"\x42" * 32
    public = primitives.ed25519_public_from_seed(seed)
    signature = primitives.ed25519_sign(seed, b"message")
    assert primitives.ed25519_verify(public, signature, b"message")
    assert not primitives.ed25519_verify(public, signature, b"messagE")


def _public_callables() -> list[tuple[str, Any]]:
    import inspect

    import sealpack
    from sealpack import api, keys, x3dh
    from sealpack.keys import secret

    found = []
    for module in (primitives, api, keys, x3dh, secret, sealpack):
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [
                    (f"{name}.{m}", f) for m, f in vars(obj).items() if not m.startswith("_")
                ]
            found += [(n, f) for n, f in members if callable(f)]
    return found


def test_no_public_signature_takes_a_nonce() -> None:
    import inspect

    checked = 0
    for name, function in _public_callables():
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            continue
        checked += 1
        assert not any("nonce" in p for p in parameters), name
    assert checked > 30
    assert not any("aes" in n or "chacha" in n for n in primitives.__all__)
    assert "internal layer" in (primitives.__doc__ or "")


def test_x25519_zero_check_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = primitives.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(primitives.hmac, "compare_digest", spy)
    public = primitives.x25519_public_from_private(bytes([9]) * 32)
    shared = primitives.x25519(bytes([7]) * 32, public)
    assert calls == [(shared, bytes(32))]


# --- ML-KEM-768 (primitives_kem) -------------------------------------------------------


def test_mlkem768_round_trip_and_sizes() -> None:
    seed = bytes(range(64))
    public = primitives.mlkem768_public_from_seed(seed)
    assert len(public) == primitives.MLKEM768_PUBLIC_SIZE == 1184
    assert primitives.mlkem768_public_from_seed(seed) == public  # deterministic from the seed
    shared, ciphertext = primitives.mlkem768_encapsulate(public)
    assert len(shared) == 32 and len(ciphertext) == primitives.MLKEM768_CIPHERTEXT_SIZE == 1088
    private = primitives.mlkem768_private_from_seed(seed)
    assert primitives.mlkem768_decapsulate(private, ciphertext) == shared
    # implicit rejection: a wrong ciphertext of the right length gives another secret
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    assert primitives.mlkem768_decapsulate(private, flipped) != shared


@pytest.mark.parametrize("ciphertext", [b"", bytes(1087), bytes(1089), "x", None], ids=repr)
def test_mlkem768_malformed_ciphertext_is_tampering(ciphertext: object) -> None:
    private = primitives.mlkem768_private_from_seed(bytes(64))
    with pytest.raises(errors.TamperedError):
        primitives.mlkem768_decapsulate(private, ciphertext)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "public", [b"", bytes(1183), b"\xff" * 1184, "x"], ids=lambda v: repr(v)[:12]
)
def test_mlkem768_invalid_public_key(public: object) -> None:
    assert not primitives.is_valid_mlkem768_public(public)  # type: ignore[arg-type]
    with pytest.raises(primitives.InvalidKeyError):
        primitives.mlkem768_encapsulate(public)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [bytes(32), bytes(65), "x" * 64], ids=repr)
def test_mlkem768_seed_must_be_64_bytes(seed: object) -> None:
    with pytest.raises(primitives.InvalidKeyError):
        primitives.mlkem768_public_from_seed(seed)  # type: ignore[arg-type]
