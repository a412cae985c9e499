"""Private keys never show their bytes and refuse pickling and copying."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest

from sealpack import errors
from sealpack.keys import Identity, PrivateKeyExportError
from sealpack.keys.secret import (
    Ed25519Seed,
    MLKEMSecret,
    SymmetricKey,
    X25519Secret,
    export_raw,
)

RAW = bytes(range(1, 33))
RAW64 = bytes(range(1, 65))


def _handles() -> list[object]:
    return [X25519Secret(RAW), Ed25519Seed(RAW), SymmetricKey(RAW), MLKEMSecret(RAW64)]


@pytest.mark.parametrize("handle", _handles(), ids=lambda h: type(h).__name__)
def test_repr_and_str_hide_bytes(handle: object) -> None:
    for text in (repr(handle), str(handle), f"{handle}"):
        assert RAW.hex() not in text and repr(RAW) not in text
        assert RAW64.hex()[:64] not in text
        assert "hidden" in text


ATTEMPTS: list[Callable[[object], object]] = [
    pickle.dumps,
    lambda obj: pickle.dumps(obj, protocol=2),
    copy.copy,
    copy.deepcopy,
    lambda obj: obj.__reduce__(),  # type: ignore[attr-defined]
    lambda obj: obj.__getstate__(),  # type: ignore[attr-defined]
]


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_private_handles_refuse_export(attempt: Callable[[object], object]) -> None:
    identity = Identity.generate("alice", one_time_prekeys=1)
    for obj in [*_handles(), identity]:
        with pytest.raises(PrivateKeyExportError) as info:
            attempt(obj)
        assert isinstance(info.value, errors.SealpackError)
        assert "KeyStore" in str(info.value)


def test_identity_repr_shows_name_and_fingerprint_only() -> None:
    identity = Identity.generate("alice", one_time_prekeys=2)
    text = repr(identity)
    assert "alice" in text and identity.fingerprint() in text
    seed = export_raw(identity._state.seed)
    assert seed.hex() not in text
    assert "hidden" in repr(identity._state.seed)
    assert "private" in repr(identity._state.one_time_prekeys[1])


def test_no_instance_dict_on_handles() -> None:
    handle = X25519Secret(RAW)
    assert not hasattr(handle, "__dict__")
    assert handle != X25519Secret(RAW)  # identity equality, no byte comparison


def test_handle_rejects_wrong_length() -> None:
    with pytest.raises(errors.SealpackError):
        X25519Secret(b"short")
    with pytest.raises(errors.SealpackError):
        MLKEMSecret(RAW)  # an ML-KEM-768 key is its 64-byte seed


def test_mlkem_handle_exports_only_its_seed() -> None:
    handle = MLKEMSecret(RAW64)
    assert export_raw(handle) == RAW64
    assert len(handle.public) == 1184
    assert not hasattr(handle, "__dict__")


def test_symmetric_key_draws_its_own_nonce() -> None:
    key = SymmetricKey(RAW)
    first, second = key.encrypt(b"data", b"aad"), key.encrypt(b"data", b"aad")
    assert first[:12] != second[:12] and len(first) == 12 + 4 + 16
    assert key.decrypt(first, b"aad") == key.decrypt(second, b"aad") == b"data"
    fixed = key.encrypt(b"data", b"aad", rng=lambda n: b"\x05" * n)
    assert fixed[:12] == b"\x05" * 12
    assert fixed == key.encrypt(b"data", b"aad", rng=lambda n: b"\x05" * n)
    for bad in (fixed[:11], fixed[:-1], bytes([fixed[0] ^ 1]) + fixed[1:]):
        with pytest.raises(errors.TamperedError):
            key.decrypt(bad, b"aad")
    with pytest.raises(errors.TamperedError):
        key.decrypt(fixed, b"other aad")
