"""Issues 10.1 and 10.5: one hostile message never stops the others; hints never mislead.

A blob that breaks the opener in an unexpected way (a raw exception from storage,
as an expiry of 2^63-1 once did), junk, and a symlink are each quarantined (or left
alone) while the honest message behind them is delivered, by ``receive()`` and by
``watch()``, and nothing escapes as a raw exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sealpack import api
from sealpack.envelope import header as hdr
from sealpack.exchange import DirectoryTransport, MemoryTransport, Peer, Transport
from sealpack.exchange.message_ids import new_message_id
from sealpack.keys import Identity

MakeTransport = Callable[[], Transport]


def make_peer(name: str, transport: Transport, **kwargs: Any) -> Peer:
    return Peer(name, transport, Identity.generate(name, one_time_prekeys=4), **kwargs)


@pytest.fixture
def poisoned_opener(monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage fails with a raw OverflowError for any message whose metadata says so."""
    real = api.unseal_from

    def opener(*args: Any, **kwargs: Any) -> Any:
        obj, info = real(*args, **kwargs)
        if info.metadata.get("poison"):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return obj, info

    monkeypatch.setattr(api, "unseal_from", opener)


@pytest.mark.usefixtures("poisoned_opener")
@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_no_single_hostile_message_stops_an_honest_one(kind: str, tmp_path: Path) -> None:
    transport: Transport = MemoryTransport() if kind == "memory" else DirectoryTransport(tmp_path)
    bob, alice, mallory = (make_peer(n, transport) for n in ("bob", "alice", "mallory"))
    mallory.send(b"poison", to=["bob"], metadata={"poison": True})
    transport.deliver("bob", b"junk" * 100, sender="mallory")
    with pytest.MonkeyPatch.context() as patch:  # a hostile sealer without the time bound
        patch.setattr(hdr, "MAX_TIME", 2**63 - 1)
        mallory.send(b"forever", to=["bob"], expires_in=2**63 - int(time.time()) - 3600)
    alice.send(b"honest", to=["bob"])
    messages = bob.receive()
    assert [(m.sender, m.obj) for m in messages] == [("alice", b"honest")]
    reasons = sorted(r.reason for r in bob.quarantined())
    assert reasons == ["error", "tampered", "tampered"]
    error = next(r for r in bob.quarantined() if r.reason == "error")
    assert error.detail == "OverflowError"  # the type only: no internals in the record
    assert transport.list_inbox("bob") == []


@pytest.mark.usefixtures("poisoned_opener")
def test_watch_goes_on_after_a_hostile_message(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob, alice, mallory = (make_peer(n, site) for n in ("bob", "alice", "mallory"))
    mallory.send(b"poison", to=["bob"], metadata={"poison": True})
    alice.send(b"honest", to=["bob"])
    got = [m.obj for m in bob.watch(timeout=0.5, sleep=lambda _: None)]
    assert got == [b"honest"]


def test_a_hinted_bundle_whose_key_is_pinned_to_another_name_is_never_used(
    tmp_path: Path,
) -> None:
    """Issue 10.1: a blob copied under another peer's name is still its signer's."""
    site = DirectoryTransport(tmp_path)
    bob = make_peer("bob", site)
    seed_stream = _repeatable_rng()
    victim = Peer(
        "victim", site, Identity.generate("victim", one_time_prekeys=4, rng=seed_stream())
    )
    # The same identity key published under a second name (one key, two names):
    alias = Identity.generate("mallory", one_time_prekeys=4, rng=seed_stream())
    assert alias.public_identity_key == victim.identity.public_identity_key
    victim.send(b"first", to=["bob"])
    assert [m.sender for m in bob.receive()] == ["victim"]  # victim pinned
    Peer("mallory", site, alias)  # publishes the alias bundle
    (message_id,) = victim.send(b"update", to=["bob"])
    inbox = tmp_path / "bob" / "inbox"
    copy_id = new_message_id("mallory")
    (inbox / f"{message_id}.sealed").rename(inbox / f"{copy_id}.sealed")
    (message,) = bob.receive()
    assert (message.sender, message.obj) == ("victim", b"update")
    assert bob.trust.pinned_key("mallory") is None


def test_quarantine_never_overwrites_a_kept_blob(tmp_path: Path) -> None:
    """Attack (exchange review C.6): carol's first message is quarantined ``untrusted``
    and kept to be moved back after ``trust accept``. Mallory, writing bob's inbox,
    drops junk under the same id: quarantining it did ``os.replace`` over carol's
    blob (and her reason file). Defence: the newcomer goes to
    ``<id>.<16 hex>.sealed`` with its own ``.reason.json``; carol's files stay."""
    site = DirectoryTransport(tmp_path)
    bob = make_peer("bob", site, trust_new_peers=False)
    carol = make_peer("carol", site)
    (mid,) = carol.send(b"from carol", to=["bob"])
    assert bob.receive() == []
    folder = tmp_path / "bob" / "quarantine"
    kept = (folder / f"{mid}.sealed").read_bytes()
    reason = (folder / f"{mid}.reason.json").read_bytes()
    (tmp_path / "bob" / "inbox" / f"{mid}.sealed").write_bytes(b"junk")
    assert bob.receive() == []
    assert (folder / f"{mid}.sealed").read_bytes() == kept
    assert (folder / f"{mid}.reason.json").read_bytes() == reason
    others = sorted(p.name for p in folder.iterdir() if not p.name.startswith(mid + ".s"))
    assert len(others) == 3  # carol's reason + the junk's blob and reason, renamed
    assert sorted(r.reason for r in bob.quarantined()) == ["tampered", "untrusted"]
    bob.trust_peer("carol")
    (folder / f"{mid}.sealed").rename(tmp_path / "bob" / "inbox" / f"{mid}.sealed")
    assert [m.obj for m in bob.receive()] == [b"from carol"]


def _repeatable_rng() -> Callable[[], Callable[[int], bytes]]:
    """Each call returns a fresh generator yielding the same byte stream."""
    import hashlib

    def make() -> Callable[[int], bytes]:
        counter = [0]

        def rng(n: int) -> bytes:
            out = b""
            while len(out) < n:
                counter[0] += 1
                out += hashlib.sha256(counter[0].to_bytes(8, "big")).digest()
            return out[:n]

        return rng

    return make
