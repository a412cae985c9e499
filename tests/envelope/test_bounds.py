"""Issue 10.5: bounded header integers; every failure while opening is a SealpackError
(no raw OverflowError, sqlite3 or OSError), nothing delivered, the blob still opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sealpack import api, errors
from sealpack.envelope import header as hdr
from sealpack.keys import Identity, KeyStore
from tests.envelope.conftest import NOW, identity


def test_seal_refuses_out_of_bound_times() -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    for expires_in in (2**63 - 1 - NOW, 2**40 - NOW):
        with pytest.raises(errors.SealArgumentError, match="2\\*\\*40"):
            api.seal(1, sender=alice, recipients=[bob.bundle()], now=NOW, expires_in=expires_in)
    with pytest.raises(errors.SealArgumentError):
        api.seal(1, sender=alice, recipients=[bob.bundle()], now=2**40, expires_in=1)
    last = 2**40 - 1 - NOW
    blob = api.seal(1, sender=alice, recipients=[bob.bundle()], now=NOW, expires_in=last)
    assert api.inspect(blob).expires == hdr.MAX_TIME == 2**40 - 1


def test_a_signed_huge_expiry_is_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poison message of 10.5: a trusted sender signs expires = 2**63 - 1. Version 1
    verified it fully, then the replay store raised a raw OverflowError on every call."""
    alice = identity("alice", 0)
    store = KeyStore.create(tmp_path / "bob", identity("bob", 1), passphrase=b"pw", scrypt_n=2**10)
    with monkeypatch.context() as patch:  # a sealer without the bound (as a hostile peer's)
        patch.setattr(hdr, "MAX_TIME", 2**63 - 1)
        poison = api.seal(
            1,
            sender=alice,
            recipients=[store.identity.bundle()],
            now=NOW,
            expires_in=2**63 - 1 - NOW,
        )
    with pytest.raises(errors.TamperedError):
        api.unseal(poison, recipient=store, senders=[alice.bundle()], now=NOW)
    honest = api.seal(2, sender=alice, recipients=[store.identity.bundle()], now=NOW)
    assert api.unseal(honest, recipient=store, senders=[alice.bundle()], now=NOW) == 2
    store.close()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), errors.KeyStoreError),
        (OSError(28, "No space left on device"), errors.StorageError),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), errors.SealpackError),
        (MemoryError(), errors.SealpackError),
    ],
)
def test_storage_and_unexpected_errors_become_sealpack_errors(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, expected: type[Exception]
) -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = api.seal(
        {"secret": "plaintext-marker"}, sender=alice, recipients=[bob.bundle()], now=NOW
    )

    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise raised

    with monkeypatch.context() as patch:
        patch.setattr(Identity, "_commit_open", failing)
        with pytest.raises(expected) as caught:
            api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW)
    assert isinstance(caught.value, errors.SealpackError)
    assert "plaintext-marker" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert bob.one_time_prekey_ids() == [1]  # nothing consumed or recorded: opens again
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW) == {
        "secret": "plaintext-marker"
    }
