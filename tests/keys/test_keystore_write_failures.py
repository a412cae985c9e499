"""A key file write that fails (ENOSPC, EIO) neither loses a message nor leaks a prekey.

state.db is authoritative: once it committed an opened message (or an acknowledgement),
the key file rewrite that follows is best effort and never raises (keys.md 6.3). A
prekey change (rotation) whose write fails is undone in memory before the error leaves,
so no bundle hands out a prekey whose private key is on no disk.
"""

from __future__ import annotations

import errno
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import sealpack
from sealpack import errors
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import KEY_FILE

PASS = b"correct horse battery staple"
FAST = 2**10
NOW = 1_700_000_000


def _fail_key_file_writes(monkeypatch: pytest.MonkeyPatch, times: int) -> list[object]:
    """Make the next ``times`` renames onto identity.key fail with ENOSPC."""
    real_replace: Callable[..., None] = os.replace
    failures: list[object] = []

    def replace(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if str(dst).endswith(KEY_FILE) and len(failures) < times:
            failures.append(dst)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return failures


def _reopen(path: Path, now: int | None = None) -> KeyStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KeyStore.open(path, passphrase=PASS, now=now)


def test_a_failed_key_file_rewrite_after_the_commit_loses_no_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC on the key file rewrite that follows the state.db commit.

    Before: the opener raised KeyStoreError ("nothing was delivered") although the replay
    row was already ``done``, so every retransmission was a ReplayError: the message was
    lost for good. Now the message is delivered, the consumed one-time prekey is gone
    from memory at once and from the file at the next write, and a warning is logged.
    """
    alice = Identity.generate("alice", one_time_prekeys=0)
    store = KeyStore.create(
        tmp_path / "bob",
        Identity.generate("bob", one_time_prekeys=3),
        passphrase=PASS,
        scrypt_n=FAST,
    )
    blob = sealpack.seal({"w": 1}, sender=alice, recipients=[store.identity.bundle()])
    failures = _fail_key_file_writes(monkeypatch, 1)
    with caplog.at_level(logging.WARNING, logger="sealpack.keys.store_writer"):
        assert sealpack.unseal(blob, recipient=store, senders=[alice.bundle()]) == {"w": 1}
    assert failures, "the rewrite was not attempted"
    assert "rewrite after a commit failed" in caplog.text
    assert 1 not in store.identity.one_time_prekey_ids()
    assert [k.id for k in store.identity.bundle().one_time_prekeys] == [2, 3]
    with pytest.raises(errors.ReplayError):
        sealpack.unseal(blob, recipient=store, senders=[alice.bundle()])
    store.identity.replenish_one_time_prekeys(1)  # the next write rewrites the file
    store.close()
    with _reopen(tmp_path / "bob") as again:
        assert again.identity.one_time_prekey_ids() == [2, 3, 4]


def test_a_failed_rewrite_after_an_acknowledgement_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acknowledgement committed in state.db stands when the key file write fails:
    the held private key leaves memory now and the file at its next rewrite."""
    store = KeyStore.create(
        tmp_path / "bob",
        Identity.generate("bob", one_time_prekeys=2, now=NOW),
        passphrase=PASS,
        scrypt_n=FAST,
    )
    identity = store.identity
    identity._commit_open(
        b"s" * 16,
        b"m1",
        b"d" * 32,
        2**40,
        one_time_prekey_id=1,
        pq_one_time_prekey_id=None,
        hold=True,
        now=NOW,
    )
    assert (0, 1) in identity._held
    _fail_key_file_writes(monkeypatch, 1)
    store.acknowledge(b"s" * 16, b"m1")
    assert (0, 1) not in identity._held
    assert store.replay_guard.lookup(b"s" * 16, b"m1") == ("done", b"d" * 32)
    store.close()
    with _reopen(tmp_path / "bob", NOW) as again:
        assert again.identity._held == {}


def test_a_rotation_that_failed_to_write_never_hands_out_its_unsaved_prekey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StoreWriter.writing() re-raised a failed key-file write but left the change in memory:
    until the next re-read, bundle() handed out the new signed/PQ prekey whose private
    keys were on no disk, and whatever was sealed to it was lost at the next restart."""
    alice = Identity.generate("alice", one_time_prekeys=0)
    store = KeyStore.create(
        tmp_path / "bob",
        Identity.generate("bob", one_time_prekeys=0, now=NOW),
        passphrase=PASS,
        scrypt_n=FAST,
    )
    before = store.identity.bundle().to_json()
    _fail_key_file_writes(monkeypatch, 1)
    with pytest.raises(errors.KeyStoreError):
        store.identity.rotate_signed_prekey(now=NOW + 10)
    handed_out = store.identity.bundle()  # what a publish / hello answer gives senders
    assert handed_out.to_json() == before
    store.close()
    blob = sealpack.seal({"w": 1}, sender=alice, recipients=[handed_out], now=NOW + 20)
    with _reopen(tmp_path / "bob", NOW + 30) as restarted:
        opened = sealpack.unseal(blob, recipient=restarted, senders=[alice.bundle()], now=NOW + 30)
    assert opened == {"w": 1}


def test_a_replenishment_that_failed_to_write_is_undone_and_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory undo also covers new one-time prekeys (their ids are not burnt)."""
    store = KeyStore.create(
        tmp_path / "bob",
        Identity.generate("bob", one_time_prekeys=2, now=NOW),
        passphrase=PASS,
        scrypt_n=FAST,
    )
    _fail_key_file_writes(monkeypatch, 1)
    with pytest.raises(errors.KeyStoreError):
        store.identity.replenish_one_time_prekeys(3)
    assert store.identity.one_time_prekey_ids() == [1, 2]
    store.identity.replenish_one_time_prekeys(3)
    assert store.identity.one_time_prekey_ids() == [1, 2, 3, 4, 5]
    store.close()
    with _reopen(tmp_path / "bob", NOW) as again:
        assert again.identity.one_time_prekey_ids() == [1, 2, 3, 4, 5]
