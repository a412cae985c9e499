"""Exchange review C.2: a folder planted where a file is expected never stops a peer.

Any sender can write into a recipient's ``inbox/``, ``public/prekeys/`` and
``public/claimed/``. Every start of a Peer (every ``sealpack send``/``receive``)
registers the peer (stale temporaries are cleaned) and publishes (consumed prekey
and claim files are deleted); a folder named like one of those files used to make
the unlink fail, so the peer could never start again. Cleanups now lstat each
entry, delete only regular files and symlinks, and never stop at one entry.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, Peer, atomic
from sealpack.keys import Identity


def bob_and_a_message(tmp_path: Path) -> tuple[DirectoryTransport, Identity]:
    """Bob exists; alice's message waits in his inbox."""
    site = DirectoryTransport(tmp_path / "site")
    identity = Identity.generate("bob", one_time_prekeys=4)
    Peer("bob", site, identity)
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4))
    alice.send(b"the real update", to=["bob"])
    return site, identity


def test_a_stale_temp_folder_in_the_inbox_does_not_stop_the_peer(tmp_path: Path) -> None:
    """Attack: mallory makes a *folder* ``inbox/.<16 hex>.tmp`` older than an hour.
    register_peer's cleanup unlinked it: EISDIR, TransportError from Peer(...) on
    every start. Defence: the folder is skipped, bob starts and receives."""
    site, identity = bob_and_a_message(tmp_path)
    planted = site.root / "bob" / "inbox" / f".{secrets.token_hex(8)}.tmp"
    planted.mkdir()
    (planted / "x").write_bytes(b"")
    os.utime(planted, (time.time() - 7200, time.time() - 7200))
    bob = Peer("bob", site, identity)  # what every `sealpack send/receive` does first
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", b"the real update")]
    assert planted.is_dir()


@pytest.mark.parametrize("area", ["public/claimed", "public/prekeys"])
def test_a_planted_folder_in_the_prekey_areas_does_not_stop_the_peer(
    tmp_path: Path, area: str
) -> None:
    """Attack: a folder named like the prekey or claim file of an id bob does not
    hold (``claimed/4294967295-<16 hex>.json``, ``prekeys/4294967295.json``) was
    unlinked by publish: a raw IsADirectoryError from Peer(...) on every start and
    from replenish_prekeys. Defence: folders are left; publishing goes on."""
    site, identity = bob_and_a_message(tmp_path)
    name = "4294967295-0000000000000000.json" if area == "public/claimed" else "4294967295.json"
    (site.root / "bob" / area / name).mkdir()
    bob = Peer("bob", site, identity)
    assert [(m.sender, m.obj) for m in bob.receive()] == [("alice", b"the real update")]
    bob.replenish_prekeys(low_water=100, batch=2)


def test_stale_temporary_cleanup_skips_folders_and_removes_files_and_links(
    tmp_path: Path,
) -> None:
    """The cleanup itself: old temporary files and symlinks go, folders stay."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    old = time.time() - 7200
    names = {kind: f".{secrets.token_hex(8)}.tmp" for kind in ("file", "link", "dir")}
    (folder / names["file"]).write_bytes(b"")
    (folder / names["link"]).symlink_to(tmp_path / "elsewhere")
    (folder / names["dir"]).mkdir()
    for name in names.values():
        os.utime(folder / name, (old, old), follow_symlinks=False)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert atomic.remove_stale_temporaries(fd, older_than=3600) == 2
        assert atomic.discard_file(fd, names["dir"]) is False
    finally:
        os.close(fd)
    assert [p.name for p in folder.iterdir()] == [names["dir"]]
