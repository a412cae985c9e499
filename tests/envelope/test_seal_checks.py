"""What sealing checks before anything is sealed: trust pins (19.5), one recipient limit
on both sides (19.6), caller rng reuse (19.7), post-quantum downgrade (format v2)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sealpack import api, errors
from sealpack.envelope import header as hdr
from sealpack.envelope import sealer
from sealpack.keys import Identity, KeyBundle, KeyStore, TrustStore
from sealpack.secure_serializer import SecureSerializer
from tests.envelope.conftest import NOW, identity


def _store(tmp_path: Path, name: str) -> KeyStore:
    return KeyStore.create(tmp_path / name, identity(name, 0), passphrase=b"pw", scrypt_n=2**10)


SEALERS: dict[str, Callable[..., Any]] = {
    "seal": lambda obj, **kw: api.seal(obj, **kw),
    "seal_buffer": lambda obj, **kw: api.seal_buffer(obj, **kw),
    "seal_to": lambda obj, **kw: api.seal_to(obj, io.BytesIO(), **kw),
}


@pytest.mark.parametrize("path", sorted(SEALERS))
def test_a_swapped_key_under_a_pinned_name_is_refused(tmp_path: Path, path: str) -> None:
    """A bundle server swaps in its own key under the pinned name "bob"."""
    store = _store(tmp_path, "alice")
    bob, impostor = identity("bob", 2), identity("bob", 2)
    store.trust_store.check(bob.bundle())
    with pytest.raises(errors.IdentityChangedError):
        SEALERS[path]({"x": 1}, sender=store, recipients=[impostor.bundle()], now=NOW)
    # nothing was sealed: the store never marked one of the impostor's prekeys used
    blob = api.seal({"x": 1}, sender=store, recipients=[bob.bundle()], now=NOW)
    assert api.inspect(blob).recipients[0].one_time_prekey_id == 1
    store.close()


def test_secure_serializer_checks_bundles_given_in_to() -> None:
    alice, bob, impostor = identity("alice", 0), identity("bob", 0), identity("bob", 0)
    secure = SecureSerializer(alice, peers=[bob.bundle()], store=TrustStore())
    with pytest.raises(errors.IdentityChangedError):
        secure.dumps({"x": 1}, to=impostor.bundle())
    with pytest.raises(errors.IdentityChangedError):
        secure.dumps({"x": 1}, to=[bob.bundle(), impostor.bundle()])
    assert secure.dumps({"x": 1}, to=bob.bundle())


def _classical(count: int) -> list[KeyBundle]:
    return [
        Identity.generate(f"p{i}", one_time_prekeys=0, post_quantum=False, now=NOW).bundle()
        for i in range(count)
    ]


def test_one_recipient_limit_on_both_sides() -> None:
    alice = identity("alice", 0)
    limit = hdr.EnvelopeLimits().max_recipients
    assert limit == 4096
    bundles = _classical(limit + 1)
    with pytest.raises(errors.LimitExceededError, match="4096"):
        api.seal(1, sender=alice, recipients=bundles, now=NOW, allow_classical=True)
    small = hdr.EnvelopeLimits(max_recipients=2)
    with pytest.raises(errors.LimitExceededError):
        sealer.unique_recipients(bundles[:3], small)
    assert len(sealer.unique_recipients(bundles[:2] * 3, small)) == 2  # duplicates collapse


def test_the_largest_hybrid_header_fits_the_opener_limits() -> None:
    """4096 hybrid stanzas and 64 KiB of metadata parse under the default limits."""
    limits = hdr.EnvelopeLimits()
    stanzas = [
        hdr.Stanza(
            i.to_bytes(16, "big"),
            2**32 - 1,
            2**32 - 1,
            2**32 - 1,
            bytes(32),
            bytes(1088),
            bytes(48),
        )
        for i in range(limits.max_recipients)
    ]
    metadata = {"m": "x" * (limits.max_metadata_size - 16)}
    core = hdr.Core(bytes(32), bytes(16), NOW, NOW + 1, "t" * 255, metadata, 2**40, 1 << 20)
    header = hdr.encode_header(hdr.encode_core(core), stanzas)
    assert len(hdr.parse_header(header, limits).stanzas) == limits.max_recipients


def test_a_reused_deterministic_rng_is_refused() -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = api.seal(
        1, sender=alice, recipients=[bob.bundle()], now=NOW, rng=random.Random(7).randbytes
    )
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW) == 1
    with pytest.raises(errors.SealArgumentError, match="rng"):
        api.seal(
            2, sender=alice, recipients=[bob.bundle()], now=NOW, rng=random.Random(7).randbytes
        )
    with pytest.raises(errors.SealArgumentError, match="rng"):
        api.seal_to(
            2, io.BytesIO(), sender=alice, recipients=[bob.bundle()], rng=random.Random(7).randbytes
        )
    one_generator = random.Random(8).randbytes  # one state, advancing: fine
    first = api.seal(3, sender=alice, recipients=[bob.bundle()], now=NOW, rng=one_generator)
    second = api.seal(3, sender=alice, recipients=[bob.bundle()], now=NOW, rng=one_generator)
    assert first != second
    assert api.seal(4, sender=alice, recipients=[bob.bundle()]) != api.seal(
        4, sender=alice, recipients=[bob.bundle()]
    )


def test_classical_needs_allow_classical_and_hybrid_is_reported() -> None:
    alice, hybrid = identity("alice", 0), identity("bob", 1)
    classical = Identity.generate("dave", one_time_prekeys=1, post_quantum=False, now=NOW - 60)
    with pytest.raises(errors.DowngradeError, match="allow_classical"):
        api.seal(1, sender=alice, recipients=[hybrid.bundle(), classical.bundle()], now=NOW)
    assert alice.prekey_usage.take(hybrid.public_identity_key, [1]) == 1  # nothing taken
    blob = api.seal(1, sender=alice, recipients=[classical.bundle()], now=NOW, allow_classical=True)
    (stanza,) = api.inspect(blob).recipients
    assert not stanza.hybrid and stanza.pq_prekey_id is None
    _, info = api.unseal(
        blob, recipient=classical, senders=[alice.bundle()], now=NOW, with_metadata=True
    )
    assert info.hybrid is False


def test_pq_one_time_prekeys_are_taken_once_per_sender() -> None:
    alice = identity("alice", 0)
    bob = Identity.generate("bob", one_time_prekeys=0, pq_one_time_prekeys=2, now=NOW - 60)
    ids = [
        api.inspect(api.seal(i, sender=alice, recipients=[bob.bundle()], now=NOW)).recipients[0]
        for i in range(3)
    ]
    last_resort = bob.pq_prekey_id
    assert [r.pq_prekey_id for r in ids] == [
        bob.bundle().pq_one_time_prekeys[0].id,
        bob.bundle().pq_one_time_prekeys[1].id,
        last_resort,
    ]
    assert all(r.hybrid for r in ids)


def test_classical_and_pq_one_time_prekey_ids_are_counted_apart() -> None:
    """Classical OPK ids 1, 2 and PQ one-time ids 2, 3 overlap at 2: one shared record
    would make the second seal fall back to the signed prekey."""
    alice = identity("alice", 0)
    bob = Identity.generate("bob", one_time_prekeys=2, pq_one_time_prekeys=2, now=NOW - 60)
    seen = [
        api.inspect(api.seal(i, sender=alice, recipients=[bob.bundle()], now=NOW)).recipients[0]
        for i in range(2)
    ]
    assert [(r.one_time_prekey_id, r.pq_prekey_id) for r in seen] == [(1, 2), (2, 3)]
