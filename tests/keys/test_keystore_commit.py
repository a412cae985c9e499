"""Issue 17, key side: an opened message is committed once, after it verified.

``Identity._commit_open`` records the message (digest, state held/done) and consumes its
one-time prekeys in one step; ``hold=True`` keeps the prekeys' private keys for a
redelivery until ``acknowledge``. Same semantics for a KeyStore and a bare Identity.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealpack import errors, x3dh
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import STATE_FILE

PASS = b"pw"
FAST = 2**10
NOW = 1_700_000_000
DIGEST = b"\x11" * 32


class Holder:
    """A bare Identity or a KeyStore's identity, reopened on demand (restart)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind, self.path = kind, tmp_path / "bob"
        bob = Identity.generate("bob", one_time_prekeys=3, pq_one_time_prekeys=2, now=NOW)
        self.store: KeyStore | None = None
        if kind == "store":
            self.store = KeyStore.create(self.path, bob, passphrase=PASS, scrypt_n=FAST)
            bob = self.store.identity
        self.identity = bob

    def restart(self) -> Identity:
        if self.store is not None:
            self.store.close()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.store = KeyStore.open(self.path, passphrase=PASS, now=NOW)
            self.identity = self.store.identity
        return self.identity

    def acknowledge(self, sender: bytes, message_id: bytes) -> None:
        if self.store is not None:
            self.store.acknowledge(sender, message_id)
        else:
            self.identity._acknowledge(sender, message_id)


@pytest.fixture(params=["memory", "store"])
def holder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Holder]:
    made = Holder(request.param, tmp_path)
    yield made
    if made.store is not None:
        made.store.close()


ALICE = Identity.generate("alice", one_time_prekeys=0, now=NOW)


def _send(bob: Identity, opk: int | None, pq: int | None) -> x3dh.X3DHResult:
    bundle = bob.bundle()
    return x3dh.initiate(ALICE, bundle, one_time_prekey_id=opk, pq_prekey_id=pq, now=NOW)


def _open(bob: Identity, sent: x3dh.X3DHResult) -> x3dh.X3DHResult:
    got = x3dh.respond(bob, sent.header, now=NOW, consume=False)
    assert got.shared_key == sent.shared_key
    return got


def _commit(bob: Identity, mid: bytes, used: tuple[int | None, int | None], hold: bool) -> None:
    bob._commit_open(
        ALICE.key_id,
        mid,
        DIGEST,
        NOW + 100,
        one_time_prekey_id=used[0],
        pq_one_time_prekey_id=used[1],
        hold=hold,
        now=NOW,
    )


def test_done_commit_consumes_and_records(holder: Holder) -> None:
    bob = holder.identity
    sent = _send(bob, 1, bob.pq_one_time_prekey_ids()[0])
    used = _open(bob, sent).one_time_prekeys
    assert bob.replay_guard.lookup(ALICE.key_id, b"m") is None
    _commit(bob, b"m", used, hold=False)
    bob = holder.restart()
    assert bob.replay_guard.lookup(ALICE.key_id, b"m") == ("done", DIGEST)
    assert 1 not in bob.one_time_prekey_ids() and used[1] not in bob.pq_one_time_prekey_ids()
    with pytest.raises(errors.PrekeyError):
        x3dh.respond(bob, sent.header, now=NOW, consume=False)
    with pytest.raises(errors.ReplayError):
        _commit(bob, b"m", (None, None), hold=False)


def test_held_commit_keeps_the_keys_for_a_redelivery_until_acknowledged(holder: Holder) -> None:
    bob = holder.identity
    sent = _send(bob, 2, bob.pq_one_time_prekey_ids()[0])
    used = _open(bob, sent).one_time_prekeys
    _commit(bob, b"m", used, hold=True)
    bob = holder.restart()  # a crash after the commit, before the application had it
    assert bob.replay_guard.lookup(ALICE.key_id, b"m") == ("held", DIGEST)
    assert 2 not in bob.one_time_prekey_ids()  # never offered again ...
    assert 2 not in {opk.id for opk in bob.bundle().one_time_prekeys}
    assert used[1] not in bob.pq_one_time_prekey_ids()
    _open(bob, sent)  # ... but the redelivered blob still opens
    with pytest.raises(errors.PrekeyError):  # and no other message may consume it
        _commit(bob, b"other", used, hold=False)
    assert bob.replay_guard.lookup(ALICE.key_id, b"other") is None  # no row without consumption
    holder.acknowledge(ALICE.key_id, b"m")
    holder.acknowledge(ALICE.key_id, b"m")  # idempotent
    assert bob.replay_guard.lookup(ALICE.key_id, b"m") == ("done", DIGEST)
    bob = holder.restart()
    assert bob.replay_guard.lookup(ALICE.key_id, b"m") == ("done", DIGEST)
    with pytest.raises(errors.PrekeyError):  # the private keys are gone now
        x3dh.respond(bob, sent.header, now=NOW, consume=False)


def test_acknowledging_an_unknown_message_is_an_error(holder: Holder) -> None:
    with pytest.raises(errors.KeyStoreError, match="no opened message"):
        holder.acknowledge(ALICE.key_id, b"never")


def test_a_commit_naming_a_consumed_prekey_records_nothing(holder: Holder) -> None:
    bob = holder.identity
    _commit(bob, b"first", (3, None), hold=False)
    with pytest.raises(errors.PrekeyError):
        _commit(bob, b"second", (3, None), hold=False)
    assert bob.replay_guard.lookup(ALICE.key_id, b"second") is None


def test_a_message_without_one_time_prekeys_commits_without_a_key_file_write(
    tmp_path: Path,
) -> None:
    holder = Holder("store", tmp_path)
    key_file = holder.path / "identity.key"
    before = key_file.stat().st_mtime_ns, key_file.read_bytes()
    _commit(holder.identity, b"m", (None, None), hold=True)
    assert (key_file.stat().st_mtime_ns, key_file.read_bytes()) == before
    assert holder.identity.replay_guard.lookup(ALICE.key_id, b"m") == ("held", DIGEST)
    assert holder.store is not None
    holder.store.close()


DIES_BEFORE_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from sealpack import x3dh
    from sealpack.keys import Identity, KeyStore, KeyBundle
    from sealpack.x3dh import X3DHHeader
    store = KeyStore.open(sys.argv[1], passphrase=b"pw", now=1_700_000_000)
    alice = Identity.generate("alice", one_time_prekeys=0, now=1_700_000_000)
    sent = x3dh.initiate(alice, store.identity.bundle(), one_time_prekey_id=1,
                         pq_prekey_id=store.identity.pq_prekey_id, now=1_700_000_000)
    x3dh.respond(store.identity, sent.header, now=1_700_000_000, consume=False)
    os.kill(os.getpid(), signal.SIGKILL)  # killed while opening, before the commit
    """
)


def test_a_receiver_killed_before_the_commit_loses_no_prekey(tmp_path: Path) -> None:
    holder = Holder("store", tmp_path)
    assert holder.store is not None
    holder.store.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", DIES_BEFORE_COMMIT, str(holder.path)], env=env, check=False
    )
    assert done.returncode == -signal.SIGKILL
    bob = holder.restart()
    assert bob.one_time_prekey_ids() == [1, 2, 3]
    assert (holder.path / STATE_FILE).exists()
    assert holder.store is not None
    holder.store.close()
