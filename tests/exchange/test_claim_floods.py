"""Exchange review C.1 and C.4: junk in ``claimed/`` and in-place rewrites steal no prekey.

Any sender can write into a recipient's ``public/claimed/``. Claims are read by
``ctime`` (every entry stat'ed first), and only decodable claims to the recipient
count towards the 1024-claim cap, so a flood of junk neither hides the honest
claim nor lets a thief's claim be read first; the owner's publish deletes the
junk. The header the claim check passed is the header opened, byte for byte.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from sealpack import api
from sealpack.exchange import DirectoryTransport, Peer, atomic, claims
from sealpack.exchange.claim_check import ClaimCheck
from sealpack.exchange.claims import encode_claim
from sealpack.exchange.directory_sites import MAX_CLAIMS_READ
from sealpack.keys import Identity, KeyBundle
from tests.exchange.test_prekey_claims import deliver_first, thief_blob


def make_peer(name: str, site: DirectoryTransport) -> Peer:
    return Peer(name, site, Identity.generate(name, one_time_prekeys=4))


def honest_claim(site: DirectoryTransport, alice: Peer) -> Path:
    """Alice sends to bob; return her claim file."""
    alice.send(b"the real update", to=["bob"])
    (honest,) = (site.root / "bob" / "public" / "claimed").iterdir()
    return honest


def flood(claimed: Path, honest: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Add 1100 empty claim-named files and list the honest claim after all of them.

    The listing order is the file system's (hash order); an attacker on a shared
    disk watches it and floods until the honest claim is past the cap. The patch
    makes that order certain instead of searching for it with 40 000 files.
    Returns the listing order, to change (e.g. to put a thief's claim first).
    """
    prekey = honest.name.split("-")[0]
    for _ in range(MAX_CLAIMS_READ + 76):
        (claimed / f"{prekey}-{secrets.token_hex(8)}.json").write_bytes(b"")
    first: list[str] = []
    real = atomic.list_names

    def honest_last(dir_fd: int) -> list[str]:
        names = real(dir_fd)
        if honest.name not in names:
            return names
        rest = [n for n in names if n != honest.name and n not in first]
        return [n for n in first if n in names] + rest + [honest.name]

    monkeypatch.setattr(atomic, "list_names", honest_last)
    return first


def test_junk_claim_files_cannot_hide_the_honest_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: mallory floods ``claimed/`` with empty files named like claims of the
    prekey alice took, so the honest claim lists past the 1024th entry (the reader
    used to cap in listing order, then sort): alice's message waited, then was
    quarantined ``prekey``. Defence: stat all, read oldest first, count only claims."""
    site = DirectoryTransport(tmp_path / "site")
    bob, alice = make_peer("bob", site), make_peer("alice", site)
    honest = honest_claim(site, alice)
    flood(honest.parent, honest, monkeypatch)
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", b"the real update")]


def test_junk_claim_files_let_no_thief_take_the_prekey_without_racing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: with the honest claim hidden by the flood, bob's pass never records it;
    mallory signs her own claim of that prekey any time later, places it where the
    listing reads it, and gets her tiny blob opened first (consuming alice's prekey).
    Defence: the honest claim (oldest ctime) is read and recorded at bob's pass."""
    site = DirectoryTransport(tmp_path / "site")
    bob, alice = make_peer("bob", site), make_peer("alice", site)
    mallory = make_peer("mallory", site)
    honest = honest_claim(site, alice)
    prekey_id = int(honest.name.split("-")[0])
    inbox = site.root / "bob" / "inbox"
    (honest_blob,) = inbox.iterdir()
    syncing = honest_blob.rename(tmp_path / honest_blob.name)  # a large blob, still syncing
    listed_first = flood(honest.parent, honest, monkeypatch)
    assert bob.receive() == []  # bob's pass
    forged = encode_claim(mallory.identity, bob.identity.bundle(), prekey_id)
    mine = honest.parent / f"{prekey_id}-{secrets.token_hex(8)}.json"
    mine.write_bytes(forged)  # well after bob's pass; placed where the listing reads it
    listed_first.append(mine.name)
    deliver_first(site, "bob", thief_blob(mallory, site.fetch_bundle("bob"), prekey_id), "mallory")
    syncing.rename(inbox / honest_blob.name)  # the honest blob arrives
    assert ("alice", b"the real update") in [(m.sender, m.obj) for m in bob.receive()]


def test_publish_deletes_junk_and_forged_claims_but_keeps_the_honest_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision (C.1): bob's publish deletes from ``claimed/`` every name that is no
    claim file, symlinks, claims of a prekey still offered (forged: nobody took it),
    and claim-named files without a claim an hour after their last change (ctime);
    a fresh one may be a claim being written, and a folder is left (never read)."""
    site = DirectoryTransport(tmp_path / "site")
    bob, alice = make_peer("bob", site), make_peer("alice", site)
    mallory = make_peer("mallory", site)
    honest = honest_claim(site, alice)
    claimed = honest.parent
    offered = int(sorted((site.root / "bob" / "public" / "prekeys").iterdir())[0].stem)
    taken = honest.name.split("-")[0]
    (claimed / "junk.txt").write_bytes(b"x")
    (claimed / f"{taken}-{'0' * 16}.json").symlink_to(honest)
    forged = claimed / f"{offered}-{'1' * 16}.json"
    forged.write_bytes(encode_claim(mallory.identity, bob.identity.bundle(), offered))
    fresh = claimed / f"{taken}-{'2' * 16}.json"
    fresh.write_bytes(b"")
    (claimed / f"{taken}-{'3' * 16}.json").mkdir()
    bob.publish()
    left = sorted(p.name for p in claimed.iterdir())
    assert left == sorted([honest.name, fresh.name, f"{taken}-{'3' * 16}.json"])
    os.utime(fresh, (time.time() - 7200,) * 2)  # mtime can be set back, ctime cannot
    bob.publish()
    assert fresh.exists()
    later = time.time_ns() + 2 * 3600 * 10**9
    monkeypatch.setattr(claims, "time", SimpleNamespace(time_ns=lambda: later))
    bob.publish()  # two hours on: still no claim in it, so it goes; the honest one stays
    assert sorted(p.name for p in claimed.iterdir()) == sorted(
        [honest.name, f"{taken}-{'3' * 16}.json"]
    )


def test_a_blob_rewritten_in_place_after_the_claim_check_steals_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack (shared disk): mallory's decoy (no one-time prekey, a 20 kB header)
    passes the claim check; she then rewrites the same inode with a blob naming the
    prekey alice claimed. The inbox used to seek back and let the opener re-read the
    header from the file (past the 8 KiB buffer), so the rewrite was opened and
    consumed alice's prekey. Defence: the checked header bytes are the ones opened
    (CheckedBlob); whatever follows must match their signature."""
    site = DirectoryTransport(tmp_path / "site")
    bob, alice = make_peer("bob", site), make_peer("alice", site)
    mallory = make_peer("mallory", site)
    prekey_id = int(honest_claim(site, alice).name.split("-")[0])
    bundle = KeyBundle.from_json(site.fetch_bundle("bob"), now=0).with_one_time_prekeys([])
    decoy = api.seal(
        b"decoy", sender=mallory.identity, recipients=[bundle], metadata={"pad": "x" * 20000}
    )
    mid = deliver_first(site, "bob", decoy, "mallory")
    path = site.root / "bob" / "inbox" / f"{mid}.sealed"
    theft = thief_blob(mallory, site.fetch_bundle("bob"), prekey_id)
    real_check = ClaimCheck.check

    def check_then_rewrite(self: ClaimCheck, stream: object) -> object:
        checked = real_check(self, stream)  # type: ignore[arg-type,func-returns-value]
        if path.exists() and path.read_bytes() == decoy:
            with open(path, "r+b") as same_inode:  # mallory's write, same inode
                same_inode.write(theft)
                same_inode.truncate()
        return checked

    monkeypatch.setattr(ClaimCheck, "check", check_then_rewrite)
    delivered = [(m.sender, m.obj) for m in bob.receive()]
    assert ("alice", b"the real update") in delivered
    assert ("mallory", b"tiny") not in delivered  # at most the (checked) decoy opened
