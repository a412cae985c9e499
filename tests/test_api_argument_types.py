"""Wrong-typed arguments to the public API and keys: always a SealpackError, never raw."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpack import api, errors
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore, fingerprint, key_id

NOW = 1_800_000_000
ALICE = Identity.generate("alice", one_time_prekeys=0, now=NOW - 60)
BOB = Identity.generate("bob", one_time_prekeys=0, now=NOW - 60)
BLOB = api.seal({"x": 1}, sender=ALICE, recipients=[BOB.bundle()], now=NOW)
_, BLOB_INFO = api.unseal(
    api.seal(2, sender=ALICE, recipients=[BOB.bundle()], now=NOW),
    recipient=BOB,
    senders=[ALICE.bundle()],
    now=NOW,
    hold=True,
    with_metadata=True,
)
TMP = Path(tempfile.mkdtemp(prefix="sealpack-types-"))


@pytest.fixture(scope="module", autouse=True)
def _inside_a_scratch_folder() -> Iterator[None]:
    """Generated texts are used as relative paths: keep them out of the checkout."""
    previous = os.getcwd()
    os.chdir(TMP)
    try:
        yield
    finally:
        os.chdir(previous)
        shutil.rmtree(TMP, ignore_errors=True)


def _spare() -> Identity:
    """A throw-away identity for calls that change it (BOB must stay as sealed to)."""
    return Identity.generate("spare", one_time_prekeys=0, now=NOW)


WRONG = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)

CALLS: dict[str, Callable[[Any], object]] = {
    "inspect": api.inspect,
    "seal.sender": lambda v: api.seal(1, sender=v, recipients=[BOB.bundle()], now=NOW),
    "seal.recipients": lambda v: api.seal(1, sender=ALICE, recipients=v, now=NOW),
    "seal.now": lambda v: api.seal(1, sender=ALICE, recipients=[BOB.bundle()], now=v),
    "seal.rng": lambda v: api.seal(1, sender=ALICE, recipients=[BOB.bundle()], now=NOW, rng=v),
    "unseal.blob": lambda v: api.unseal(v, recipient=BOB, senders=[ALICE.bundle()], now=NOW),
    "unseal.recipient": lambda v: api.unseal(BLOB, recipient=v, senders=[ALICE.bundle()]),
    "unseal.senders": lambda v: api.unseal(BLOB, recipient=BOB, senders=v, now=NOW),
    "unseal.now": lambda v: api.unseal(BLOB, recipient=BOB, senders=[ALICE.bundle()], now=v),
    "unseal.hold": lambda v: api.unseal(BLOB, recipient=BOB, senders=[ALICE.bundle()], hold=v),
    "unseal.expect_metadata": lambda v: api.unseal(
        BLOB, recipient=BOB, senders=[ALICE.bundle()], now=NOW, expect_metadata=v
    ),
    "seal.allow_classical": lambda v: api.seal(
        1, sender=ALICE, recipients=[BOB.bundle()], now=NOW, allow_classical=v
    ),
    "acknowledge.recipient": lambda v: api.acknowledge(v, BLOB_INFO),
    "acknowledge.receipt": lambda v: api.acknowledge(BOB, v),
    "unseal_from": lambda v: api.unseal_from(v, recipient=BOB, senders=[ALICE.bundle()]),
    "seal_to": lambda v: api.seal_to(1, v, sender=ALICE, recipients=[BOB.bundle()], now=NOW),
    "seal_frame_to": lambda v: api.seal_frame_to(
        v, TMP / "out", sender=ALICE, recipients=[BOB.bundle()], now=NOW
    ),
    "unseal_frame_to.destination": lambda v: api.unseal_frame_to(
        io.BytesIO(BLOB), v, recipient=BOB, senders=[ALICE.bundle()], now=NOW
    ),
    "Identity.generate.opks": lambda v: Identity.generate("a", one_time_prekeys=v),
    "Identity.generate.lifetime": lambda v: Identity.generate(
        "a", one_time_prekeys=0, signed_prekey_lifetime=v
    ),
    "Identity.generate.now": lambda v: Identity.generate("a", one_time_prekeys=0, now=v),
    "Identity.generate.rng": lambda v: Identity.generate("a", one_time_prekeys=0, rng=v),
    "replenish": lambda v: _spare().replenish_one_time_prekeys(v),
    "rotate.grace": lambda v: _spare().rotate_signed_prekey(grace_period=v, now=NOW),
    "rotate.now": lambda v: _spare().rotate_signed_prekey(now=v),
    "purge.now": lambda v: _spare().purge_expired(now=v),
    "sign": lambda v: ALICE.sign(v, purpose="test"),
    "KeyBundle.from_json": KeyBundle.from_json,
    "KeyBundle.from_json.now": lambda v: KeyBundle.from_json(ALICE.bundle().to_json(), now=v),
    "with_one_time_prekeys": lambda v: ALICE.bundle().with_one_time_prekeys(v),
    "fingerprint": fingerprint,
    "key_id": key_id,
    "KeyStore.open.path": lambda v: KeyStore.open(v, passphrase=b"x"),
    "KeyStore.create.path": lambda v: KeyStore.create(
        v, Identity.generate("a", one_time_prekeys=0), passphrase=b"p", scrypt_n=1024
    ),
    "KeyStore.create.identity": lambda v: KeyStore.create(TMP / "ks", v, passphrase=b"p"),
    "KeyStore.create.scrypt_n": lambda v: KeyStore.create(
        TMP / "ks", Identity.generate("a", one_time_prekeys=0), passphrase=b"p", scrypt_n=v
    ),
    "TrustStore.check": lambda v: TrustStore().check(v),
    "TrustStore.accept": lambda v: TrustStore().accept(v),
    "TrustStore.pinned_key": lambda v: TrustStore().pinned_key(v),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@settings(max_examples=25)
@given(value=WRONG)
def test_wrong_types_raise_sealpack_errors(call: str, value: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(errors.SealpackError):
            CALLS[call](value)


@pytest.mark.parametrize("value", [None, 5, [1], {"a": 1}, object(), 1.5])
def test_inspect_wrong_type_is_an_argument_error(value: object) -> None:
    with pytest.raises(errors.SealArgumentError, match="path or a binary file"):
        api.inspect(value)  # type: ignore[arg-type]


def test_inspect_missing_file_is_an_argument_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sealed"
    with pytest.raises(errors.SealArgumentError, match="cannot read") as caught:
        api.inspect(missing)
    assert "nope.sealed" in str(caught.value)
    with pytest.raises(errors.SealArgumentError, match="cannot read"):
        api.unseal_from(str(missing), recipient=BOB, senders=[ALICE.bundle()])
    with pytest.raises(errors.SealArgumentError, match="cannot write"):
        api.seal_to(1, tmp_path / "no" / "dir", sender=ALICE, recipients=[BOB.bundle()], now=NOW)
    for directory in (tmp_path, ""):
        with pytest.raises(errors.SealArgumentError, match="is a directory"):
            api.seal_to(1, directory, sender=ALICE, recipients=[BOB.bundle()], now=NOW)
        blob = api.seal(1, sender=ALICE, recipients=[BOB.bundle()], now=NOW)
        with pytest.raises(errors.SealArgumentError, match="is a directory"):
            api.unseal_frame_to(
                io.BytesIO(blob), directory, recipient=BOB, senders=[ALICE.bundle()]
            )
    assert list(tmp_path.iterdir()) == []


def test_replenish_with_a_str_is_an_argument_error() -> None:
    identity = Identity.generate("carol", one_time_prekeys=0)
    with pytest.raises(errors.SealArgumentError, match="n must be an int"):
        identity.replenish_one_time_prekeys("5")  # type: ignore[arg-type]
    assert identity.one_time_prekey_ids() == []
    with pytest.raises(errors.KeyStoreError):  # right type, bad value: the domain error
        identity.replenish_one_time_prekeys(-1)
