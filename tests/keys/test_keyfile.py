"""The key file codec: round trips and hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.keys import Identity
from sealpack.keys.keyfile import KdfParams, decode_keyfile, derive_file_key, encode_keyfile
from sealpack.keys.keyfile import read_header as read_keyfile_header

PARAMS = KdfParams(b"\x01" * 16, 2**10)
FILE_KEY = derive_file_key(b"pw", PARAMS)
NOW = 1_700_000_000


def _load(data: bytes, consumed: frozenset[int] = frozenset()) -> Identity:
    document, params = read_keyfile_header(data)
    key = FILE_KEY if params is not None else None
    state, held = decode_keyfile(document, key, params)
    assert held == {}
    for prekey_id in consumed:  # the key store drops what state.db says was consumed
        state.one_time_prekeys.pop(prekey_id, None)
    return Identity(state)


@given(
    opks=st.integers(0, 6),
    rotations=st.integers(0, 3),
    encrypted=st.booleans(),
    consumed=st.frozensets(st.integers(1, 6), max_size=3),
)
def test_round_trip(opks: int, rotations: int, encrypted: bool, consumed: frozenset[int]) -> None:
    identity = Identity.generate("zed", one_time_prekeys=opks, now=NOW)
    for step in range(rotations):
        identity.rotate_signed_prekey(grace_period=1000, now=NOW + step)
    key, params = (FILE_KEY, PARAMS) if encrypted else (None, None)
    data = encode_keyfile(identity._state, key, params)
    again = _load(data, consumed)
    assert again.public_identity_key == identity.public_identity_key
    assert again.one_time_prekey_ids() == sorted(set(identity.one_time_prekey_ids()) - consumed)
    assert sorted(again._state.signed_prekeys) == sorted(identity._state.signed_prekeys)
    assert again.bundle().signed_prekey == identity.bundle().signed_prekey
    assert again._state.next_one_time_prekey_id == identity._state.next_one_time_prekey_id


IDENTITY = Identity.generate("zed", one_time_prekeys=2, now=NOW)
SEALED = encode_keyfile(IDENTITY._state, FILE_KEY, PARAMS)
PLAIN = encode_keyfile(IDENTITY._state, None, None)


@given(position=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_bit_flips_in_encrypted_file(position: int, bit: int) -> None:
    raw = bytearray(SEALED)
    raw[position % len(raw)] ^= 1 << bit
    try:
        again = _load(bytes(raw))
    except errors.SealpackError:
        return
    # Only meaning-preserving flips survive (e.g. hex digit case): same keys.
    assert again.bundle() == IDENTITY.bundle()


@given(position=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_bit_flips_in_plain_file_raise_only_sealpack_errors(position: int, bit: int) -> None:
    raw = bytearray(PLAIN)
    raw[position % len(raw)] ^= 1 << bit
    # Anything but a SealpackError escaping (KeyError, ValueError, ...) fails the test.
    with contextlib.suppress(errors.SealpackError):
        _load(bytes(raw)).bundle()


@given(cut=st.integers(0, len(SEALED) - 2))
def test_truncation_refused(cut: int) -> None:
    with pytest.raises(errors.SealpackError):
        _load(SEALED[:cut])


def test_deep_nesting_refused() -> None:
    with pytest.raises(errors.KeyStoreError):
        _load(b"[" * 100_000 + b"]" * 100_000)
