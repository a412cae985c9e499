"""exchange.prekey_supply: planted offers and endless claims never stop the upkeep.

Anyone who can claim bob's one-time prekeys (rename ``prekeys/<id>.json`` into
``claimed/``; every sender can) can also plant entries in ``prekeys/`` and claim
without ever sending.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity


def _bob(tmp_path: Path, prekeys: int) -> tuple[DirectoryTransport, Identity]:
    site = DirectoryTransport(tmp_path / "site")
    identity = Identity.generate("bob", one_time_prekeys=prekeys)
    Peer("bob", site, identity)
    return site, identity


def _offered(site: DirectoryTransport, identity: Identity) -> int:
    return sum(site.offers_one_time_prekey("bob", i) for i in identity.one_time_prekey_ids())


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_junk_named_like_prekeys_does_not_stop_replenishing(tmp_path: Path, kind: str) -> None:
    """Attack: 20 entries ``prekeys/<n>.json`` for ids bob never made. Every name that
    parsed as a prekey id was counted: replenish_prekeys saw "enough" and never added
    any, and once the real offers were claimed senders sealed without one."""
    site, identity = _bob(tmp_path, 4)
    offers = site.root / "bob" / "public" / "prekeys"
    for n in range(1_000_000, 1_000_020):
        if kind == "folder":
            (offers / f"{n}.json").mkdir()
        else:
            (offers / f"{n}.json").write_bytes(b"{}")
    bob = Peer("bob", site, identity, publish=False)
    real = _offered(site, identity)
    assert bob.replenish_prekeys(low_water=10, batch=12) == 12
    assert _offered(site, identity) == real + 12


def test_folders_planted_at_claimed_ids_do_not_stop_replenishing(tmp_path: Path) -> None:
    """Attack: mallory claims every offer, then plants a folder at each claimed id (bob
    still holds those prekeys: a claim alone uses none). A folder is no offer a sender
    can use; it was counted, so nothing was added and senders went without."""
    site, identity = _bob(tmp_path, 12)
    offers = site.root / "bob" / "public" / "prekeys"
    while (won := site.claim_one_time_prekey("bob")) is not None:
        (offers / f"{won}.json").mkdir()
    bob = Peer("bob", site, identity)
    assert bob.replenish_prekeys(low_water=10, batch=12) == 12
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=4), sessions=False)
    before = len(identity.one_time_prekey_ids())
    alice.send(b"update", to=["bob"])
    assert [m.obj for m in bob.receive()] == [b"update"]
    assert len(identity.one_time_prekey_ids()) == before - 1  # a one-time prekey was used


def _claim_everything(site: DirectoryTransport) -> None:
    offers = site.root / "bob" / "public" / "prekeys"
    claimed = site.root / "bob" / "public" / "claimed"
    for entry in os.listdir(offers):
        if entry.endswith(".json") and not entry.startswith("."):
            key_id = entry.removesuffix(".json")
            os.rename(offers / entry, claimed / f"{key_id}-{secrets.token_hex(8)}.json")


def test_claims_without_messages_never_stop_the_signed_prekey_rotation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack: claim every offer, again and again, never send. bob keeps holding the
    claimed prekeys and adds a batch each time; at MAX_ONE_TIME_PREKEYS adding raised
    KeyStoreError on every run, and maintain (which rotates the signed prekey only
    after replenishing) stopped rotating: bob unreachable once it expired. Now the
    batch is cut to what fits (a warning is logged) and maintenance goes on."""
    site, identity = _bob(tmp_path, 9_990)
    bob = Peer("bob", site, identity)
    signed = identity.bundle().signed_prekey
    due = signed.expires - (signed.expires - signed.created) // 10
    for _ in range(2):  # the first run fills the last 10 places, the second adds none
        _claim_everything(site)
        with contextlib.suppress(errors.SealpackError):  # as watch's maintenance
            bob.maintain(now=due)
    assert len(identity.one_time_prekey_ids()) == 10_000
    assert identity.bundle().signed_prekey.expires > signed.expires, "not rotated"
    assert "holds 10000 one-time prekeys" in caplog.text
