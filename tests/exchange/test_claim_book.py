"""The datasite claim book stays bounded: compaction, and no claim lost to it."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, Peer, claim_book
from sealpack.exchange.claim_book import ClaimBook
from sealpack.keys import Identity, KeyStore

ALICE, BOB, MALLORY = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_compaction_drops_only_ids_below_the_lowest_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "claims"
    monkeypatch.setattr(claim_book, "COMPACT_AT_BYTES", 1)  # every append compacts
    book = ClaimBook(path, lowest_held_id=lambda: 30)
    for prekey_id in range(40):
        book.record(prekey_id, ALICE)
    book.void(35, MALLORY)
    ids = sorted(int(line.split()[-2]) for line in lines(path))
    assert ids == sorted([*range(30, 40), 35])
    assert book.claimer_of(29) is None and book.claimer_of(30) == ALICE
    assert book.is_void(35, MALLORY)


def test_first_claim_still_wins_after_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "claims"
    monkeypatch.setattr(claim_book, "COMPACT_AT_BYTES", 1)
    book = ClaimBook(path, lowest_held_id=lambda: 5)
    for prekey_id in range(12):
        book.record(prekey_id, ALICE)
    other_process = ClaimBook(path)  # its own view, read from the compacted file
    assert other_process.record(7, MALLORY) == ALICE
    assert ClaimBook(path).claimer_of(7) == ALICE


def test_without_a_lowest_held_id_nothing_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "claims"
    monkeypatch.setattr(claim_book, "COMPACT_AT_BYTES", 78)
    book = ClaimBook(path, lowest_held_id=lambda: None)
    for prekey_id in range(5):
        book.record(prekey_id, BOB)
    assert len(lines(path)) == 5


def test_a_writer_waiting_on_the_replaced_file_writes_to_the_new_one(tmp_path: Path) -> None:
    """A claim appended to the compacted-away file would be lost to every reader."""
    path = tmp_path / "claims"
    ClaimBook(path).record(1, ALICE)
    held = os.open(path, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a compaction holding the lock
    writer = threading.Thread(target=ClaimBook(path).record, args=(2, BOB))
    writer.start()
    time.sleep(0.2)  # the writer opened the old file and waits for its lock
    replacement = tmp_path / "claims.new"
    replacement.write_text(path.read_text())
    os.replace(replacement, path)
    os.close(held)  # releases the old file's lock
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert ClaimBook(path).claimer_of(2) == BOB


@pytest.mark.parametrize("prekeys", [0, 3])
def test_a_peer_compacts_by_its_lowest_unused_one_time_prekey(tmp_path: Path, prekeys: int) -> None:
    identity = Identity.generate("ann", one_time_prekeys=prekeys)
    store = KeyStore.create(tmp_path / "ks", identity, passphrase=b"pw", scrypt_n=2**10)
    peer = Peer("ann", DirectoryTransport(tmp_path / "site"), store)
    lowest = peer._claim_book._lowest_held_id
    assert lowest is not None
    assert lowest() == min(store.identity.one_time_prekey_ids(), default=None)
    assert (lowest() is None) == (prekeys == 0)
    peer.close()


def test_a_held_unacknowledged_message_is_redelivered_after_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message opened with hold=True is redelivered until acknowledged, and each
    redelivery checks its prekey's claim again. Its prekey is no longer unused (it is
    held apart), so a bound of the lowest *unused* id compacted its claim away and the
    redelivery waited as unclaimed (then was quarantined): the held id must count."""
    monkeypatch.setattr(claim_book, "COMPACT_AT_BYTES", 1)  # every append compacts
    site = DirectoryTransport(tmp_path / "site")
    identity = Identity.generate("bob", one_time_prekeys=4)
    store = KeyStore.create(tmp_path / "ks", identity, passphrase=b"pw", scrypt_n=2**10)
    bob = Peer("bob", site, store)
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    alice.send("one", to=["bob"])
    first = next(bob.iter_messages(auto_ack=False))  # held, never acknowledged
    assert first.obj == "one" and 1 not in store.identity.one_time_prekey_ids()
    alice.send("two", to=["bob"])  # its claim is recorded next pass: a compaction
    again = [(m.obj, m.redelivered) for m in bob.iter_messages(auto_ack=False)]
    assert again == [("one", True), ("two", False)]
    assert bob.quarantined() == []
    bob.close()


def test_a_book_that_cannot_shrink_is_not_rewritten_on_every_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old prekey still held keeps every line: compaction must back off (amortised)."""
    monkeypatch.setattr(claim_book, "COMPACT_AT_BYTES", 200)
    compactions = []
    original = ClaimBook._compact

    def counting(self: ClaimBook, fd: int) -> None:
        compactions.append(os.fstat(fd).st_size)
        original(self, fd)

    monkeypatch.setattr(ClaimBook, "_compact", counting)
    book = ClaimBook(tmp_path / "claims", lowest_held_id=lambda: 0)
    for prekey_id in range(200):
        book.record(prekey_id, ALICE)
    assert len(lines(tmp_path / "claims")) == 200
    assert len(compactions) <= 8  # sizes double between compactions
