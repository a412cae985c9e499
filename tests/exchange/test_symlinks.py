"""Issue 10.9: a symlink planted anywhere under the datasite root is never followed.

Each area gets a planted symlink, as a peer would plant it in its own folder and as
the sync layer could plant it in ours: a symlinked folder is refused with
UnsafePathError, a symlinked file is refused or handled as the link itself, and
nothing outside the root is read, moved or deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.exchange.transport import new_message_id
from sealpack.keys import Identity

OLD = 1_000_000  # an mtime far in the past: "stale" for the temp-file cleanup


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A private folder outside the datasite, with files every area would touch."""
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "1.json").write_bytes(b"secret prekey-looking file")
    (folder / "7-0123456789abcdef.json").write_bytes(b"secret claim-looking file")
    (folder / ".old.tmp").write_bytes(b"secret temp-looking file")
    os.utime(folder / ".old.tmp", (OLD, OLD))
    (folder / f"{new_message_id('eve')}.sealed").write_bytes(b"secret blob-looking file")
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "site"


def make_peer(name: str, root: Path, **kwargs: object) -> Peer:
    return Peer(name, root, Identity.generate(name, one_time_prekeys=3), **kwargs)  # type: ignore[arg-type]


def swap_for_link(path: Path, target: Path) -> None:
    """Replace a folder or file by a symlink to ``target`` (what a hostile writer does)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    path.symlink_to(target)


def test_symlinked_peer_folder_is_refused(root: Path, victim: Path) -> None:
    before = snapshot(victim)
    root.mkdir()
    (root / "alice").symlink_to(victim)  # the sync layer replaced our own folder
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        make_peer("alice", root)
    assert DirectoryTransport(root).peers() == []
    assert snapshot(victim) == before


def test_symlinked_public_folder_is_refused_on_publish(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / "public", victim)
    with pytest.raises(errors.UnsafePathError):
        alice.publish()
    assert snapshot(victim) == before


def test_symlinked_bundle_file_is_not_read(root: Path, victim: Path) -> None:
    make_peer("bob", root)
    swap_for_link(root / "bob" / "public" / "bundle.json", victim / "1.json")  # bob, as a peer
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        DirectoryTransport(root).fetch_bundle("bob")


def test_symlinked_prekeys_folder_of_a_peer_moves_nothing_of_ours(root: Path, victim: Path) -> None:
    alice, _ = make_peer("alice", root), make_peer("bob", root)
    before = snapshot(victim)
    swap_for_link(root / "bob" / "public" / "prekeys", victim)  # bob points it at our folder
    with pytest.raises(errors.UnsafePathError):
        alice.send(b"hello", to=["bob"])
    assert snapshot(victim) == before
    assert os.listdir(root / "bob" / "public" / "claimed") == []


def test_symlinked_prekey_file_is_never_claimed(root: Path, victim: Path) -> None:
    make_peer("bob", root)
    site = DirectoryTransport(root)
    offered = root / "bob" / "public" / "prekeys"
    for entry in offered.iterdir():
        swap_for_link(entry, victim / "1.json")
    before = snapshot(victim)
    assert site.claim_one_time_prekey("bob") is None
    assert snapshot(victim) == before
    assert all(entry.is_symlink() for entry in offered.iterdir())


def test_symlinked_claimed_folder_deletes_nothing_on_publish(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / "public" / "claimed", victim)  # the sync layer did it
    with pytest.raises(errors.UnsafePathError):
        alice.publish()
    assert snapshot(victim) == before


def test_symlinked_inbox_is_refused_and_nothing_outside_is_read(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / "inbox", victim)
    with pytest.raises(errors.UnsafePathError):
        alice.receive()
    with pytest.raises(errors.UnsafePathError):
        DirectoryTransport(root).deliver("alice", b"blob", sender="bob")
    assert snapshot(victim) == before


def test_symlinked_quarantine_moves_nothing_out_and_delivery_goes_on(
    root: Path, victim: Path
) -> None:
    alice, bob = make_peer("alice", root), make_peer("bob", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / "quarantine", victim)
    junk_id = DirectoryTransport(root).deliver("alice", b"junk", sender="eve")
    bob.send(b"honest", to=["alice"])
    assert [m.obj for m in alice.receive()] == [b"honest"]
    assert snapshot(victim) == before
    assert (root / "alice" / "inbox" / f"{junk_id}.sealed").read_bytes() == b"junk"


def test_symlinked_archive_moves_nothing_out(root: Path, victim: Path) -> None:
    alice, bob = make_peer("alice", root, archive=True), make_peer("bob", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / "archive", victim)
    (first_id,) = bob.send(b"first", to=["alice"])
    (first,) = alice.receive()  # archiving is refused; the pass goes on (exchange review C.3)
    assert first.obj == b"first" and not first.acknowledged
    assert (root / "alice" / "inbox" / f"{first_id}.sealed").is_file()  # delivered again later
    (message_id,) = bob.send(b"hello", to=["alice"])
    with pytest.raises(errors.UnsafePathError):
        DirectoryTransport(root).acknowledge("alice", message_id, archive=True)
    assert snapshot(victim) == before
    assert (root / "alice" / "inbox" / f"{message_id}.sealed").is_file()


@pytest.mark.parametrize("area", ["inbox", "quarantine", "archive", "public/prekeys"])
def test_temp_file_cleanup_never_deletes_outside(root: Path, victim: Path, area: str) -> None:
    make_peer("alice", root)
    before = snapshot(victim)
    swap_for_link(root / "alice" / area, victim)
    with pytest.raises(errors.UnsafePathError):
        DirectoryTransport(root).register_peer("alice")
    assert snapshot(victim) == before


def test_symlinked_temp_file_is_removed_as_a_link(root: Path, victim: Path) -> None:
    make_peer("alice", root)
    link = root / "alice" / "inbox" / ".planted.tmp"
    link.symlink_to(victim / ".old.tmp")
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    before = snapshot(victim)
    DirectoryTransport(root).register_peer("alice")
    assert not link.is_symlink()
    assert snapshot(victim) == before


def test_symlinked_blob_is_quarantined_as_the_link(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    (blob,) = [p for p in victim.iterdir() if p.suffix == ".sealed"]
    message_id = new_message_id("eve")
    (root / "alice" / "inbox" / f"{message_id}.sealed").symlink_to(blob)
    before = snapshot(victim)
    assert alice.receive() == []
    assert [r.reason for r in alice.quarantined()] == ["malformed"]
    assert "symlink" in alice.quarantined()[0].detail
    assert snapshot(victim) == before


def test_symlinked_claim_file_is_neither_read_nor_followed(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    link = root / "alice" / "public" / "claimed" / "7-0123456789abcdef.json"
    link.symlink_to(victim / "7-0123456789abcdef.json")
    before = snapshot(victim)
    assert DirectoryTransport(root).list_claims("alice") == []
    alice.publish()  # id 7 is not alice's: the claim is forgotten, as the link itself
    assert not link.is_symlink()
    assert snapshot(victim) == before


def test_symlinked_reason_file_is_not_read(root: Path, victim: Path) -> None:
    alice = make_peer("alice", root)
    message_id = new_message_id("eve")
    record = victim / "record.json"
    fields = {"detail": "", "message_id": message_id, "quarantined_at": 1, "reason": "tampered"}
    record.write_text(json.dumps({**fields, "sender_hint": "eve"}, sort_keys=True))
    reason_file = root / "alice" / "quarantine" / f"{message_id}.reason.json"
    reason_file.write_bytes(record.read_bytes())
    assert [r.message_id for r in alice.quarantined()] == [message_id]  # a regular file is read
    reason_file.unlink()
    reason_file.symlink_to(record)
    assert alice.quarantined() == []


def test_symlinked_archive_entry_is_replaced_not_written_through(root: Path, victim: Path) -> None:
    alice, bob = make_peer("alice", root, archive=True), make_peer("bob", root)
    (message_id,) = bob.send(b"hello", to=["alice"])
    planted = root / "alice" / "archive" / f"{message_id}.sealed"
    planted.symlink_to(victim / "1.json")
    before = snapshot(victim)
    assert [m.obj for m in alice.receive()] == [b"hello"]
    assert not planted.is_symlink() and planted.is_file()
    assert snapshot(victim) == before
