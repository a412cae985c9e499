"""The public API: seal / unseal / inspect, streaming forms, SecureSerializer."""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import api, errors
from sealpack.envelope import randomness
from sealpack.keys import Identity, KeyStore, TrustStore
from sealpack.serialization import Codec
from tests.envelope.kem_replay import replayed_encapsulation

NOW = 1_800_000_000


def _identity(name: str, opks: int = 2) -> Identity:
    return Identity.generate(name, one_time_prekeys=opks, now=NOW - 60)


@pytest.fixture
def alice() -> Identity:
    return _identity("alice")


@pytest.fixture
def bob() -> Identity:
    return _identity("bob")


def _model() -> dict[str, Any]:
    return {f"layer{i}": np.arange(1000 + i, dtype=np.float32) * i for i in range(4)} | {
        "meta": {"round": 1, "names": ["a", "b"]}
    }


def _same(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left.keys() == right.keys()
    for key, value in left.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, right[key]) and value.dtype == right[key].dtype
        else:
            assert value == right[key]


def test_seal_unseal_arrays_are_writable_views(alice: Identity, bob: Identity) -> None:
    blob = api.seal(_model(), sender=alice, recipients=[bob.bundle()], now=NOW)
    assert isinstance(blob, bytes)
    obj, info = api.unseal(
        blob, recipient=bob, senders=[alice.bundle()], with_metadata=True, now=NOW
    )
    _same(obj, _model())
    assert obj["layer1"].flags.writeable
    assert info.sender_name == "alice" and info.metadata == {}
    assert info.sender_fingerprint == alice.fingerprint()


def test_seal_buffer_is_the_same_blob_without_a_copy(alice: Identity, bob: Identity) -> None:
    seed = iter(range(10**6))

    def rng(n: int) -> bytes:
        return bytes([next(seed) % 256]) * n

    spk_only = [bob.bundle().with_one_time_prekeys([])]  # the OPK choice would differ
    with randomness.reproducible_for_vectors(), replayed_encapsulation():
        buffer = api.seal_buffer({"a": 1}, sender=alice, recipients=spk_only, rng=rng, now=NOW)
        assert isinstance(buffer, bytearray)
        seed = iter(range(10**6))
        blob = api.seal({"a": 1}, sender=alice, recipients=spk_only, rng=rng, now=NOW)
    assert blob == buffer
    assert api.unseal(buffer, recipient=bob, senders=[alice.bundle()], now=NOW) == {"a": 1}


def test_metadata_and_inspect(alice: Identity, bob: Identity, tmp_path: Path) -> None:
    blob = api.seal(
        [1, 2],
        sender=alice,
        recipients=[bob.bundle()],
        metadata={"round": 9},
        expires_in=60,
        now=NOW,
    )
    for source in (blob, io.BytesIO(blob)):
        info = api.inspect(source)
        assert info.verified is False
        assert info.metadata == {"round": 9}
        assert info.expires - info.created == 60
        assert info.sender_fingerprint == alice.fingerprint()
        assert [r.key_id for r in info.recipients] == [bob.key_id.hex()]
        assert info.blob_size == len(blob)
    path = tmp_path / "x.sealed"
    path.write_bytes(blob)
    assert api.inspect(path).message_id == api.inspect(blob).message_id
    _, verified = api.unseal(
        blob, recipient=bob, senders=[alice.bundle()], now=NOW, with_metadata=True
    )
    assert verified.metadata == {"round": 9}


def test_streaming_round_trips(alice: Identity, bob: Identity, tmp_path: Path) -> None:
    path = tmp_path / "model.sealed"
    api.seal_to(_model(), path, sender=alice, recipients=[bob.bundle()], now=NOW)
    assert [p.name for p in tmp_path.iterdir()] == ["model.sealed"]
    _same(api.unseal_from(path, recipient=bob, senders=[alice.bundle()], now=NOW), _model())
    buffer = io.BytesIO()
    api.seal_to({"x": 1}, buffer, sender=alice, recipients=[bob.bundle()], now=NOW)
    assert api.unseal_from(
        io.BytesIO(buffer.getvalue()), recipient=bob, senders=[alice.bundle()], now=NOW
    ) == {"x": 1}


def test_unseal_frame_to_path(alice: Identity, bob: Identity, tmp_path: Path) -> None:
    codec = Codec()
    blob = api.seal({"k": "v"}, sender=alice, recipients=[bob.bundle()], codec=codec, now=NOW)
    out = tmp_path / "frame"
    info = api.unseal_frame_to(
        io.BytesIO(blob), out, recipient=bob, senders=[alice.bundle()], now=NOW
    )
    assert codec.loads(out.read_bytes()) == {"k": "v"}
    assert info.content_type == "application/x-sealpack-codec"


def test_seal_refuses_unregistered_types(alice: Identity, bob: Identity) -> None:
    class Opaque:
        pass

    with pytest.raises(errors.SerializationTypeError):
        api.seal(Opaque(), sender=alice, recipients=[bob.bundle()])


def test_trust_store_senders(alice: Identity, bob: Identity) -> None:
    blob = api.seal(1, sender=alice, recipients=[bob.bundle()], now=NOW)
    trust = TrustStore()
    with pytest.raises(errors.UnknownSenderError):
        api.unseal(blob, recipient=bob, senders=trust, now=NOW)
    trust.check(alice.bundle())
    assert api.unseal(blob, recipient=bob, senders=trust, now=NOW) == 1


def _keystore(path: Path, identity: Identity) -> KeyStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KeyStore.create(path, identity, passphrase=None, unencrypted=True)


def _reopen(path: Path) -> KeyStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KeyStore.open(path, passphrase=None)


def test_keystore_replay_guard_is_durable(alice: Identity, tmp_path: Path) -> None:
    carol = _identity("carol", opks=0)
    store = _keystore(tmp_path / "carol", carol)
    blob = api.seal("hello", sender=alice, recipients=[carol.bundle()], now=NOW)
    assert api.unseal(blob, recipient=store, senders=[alice.bundle()], now=NOW) == "hello"
    store.close()
    again = _reopen(tmp_path / "carol")
    with pytest.raises(errors.ReplayError):
        api.unseal(blob, recipient=again, senders=[alice.bundle()], now=NOW)
    again.close()


def test_changed_sender_identity_is_untrusted(alice: Identity, tmp_path: Path) -> None:
    carol = _identity("carol", opks=0)
    store = _keystore(tmp_path / "carol", carol)
    store.trust_store.check(alice.bundle())
    impostor = _identity("alice")
    blob = api.seal("x", sender=impostor, recipients=[carol.bundle()], now=NOW)
    with pytest.raises(errors.UntrustedSenderError) as caught:
        api.unseal(blob, recipient=store, senders=[impostor.bundle()], now=NOW)
    assert alice.fingerprint() in str(caught.value)
    store.close()


@given(st.binary(max_size=200))
def test_garbage_blobs_raise_typed_errors(garbage: bytes) -> None:
    with pytest.raises(errors.SealpackError):
        api.unseal(garbage, recipient=_RECIPIENT, senders=[_RECIPIENT.bundle()])
    with pytest.raises(errors.SealpackError):
        api.inspect(garbage)


_RECIPIENT = _identity("rcpt", opks=0)


@dataclasses.dataclass
class Update:
    round: int
    weights: np.ndarray


def test_secure_serializer(alice: Identity, bob: Identity) -> None:
    carol = _identity("carol")
    server = api.SecureSerializer(alice, peers=[bob.bundle(), carol.bundle()], codec=Codec())
    client = api.SecureSerializer(bob, peers=[alice.bundle()], codec=Codec())
    for side in (server, client):
        side.register_data_classes(Update)
        assert side.num_decomposers() >= 1
    update = Update(3, np.ones(10, dtype=np.float32))
    blob = server.dumps(update, to="bob")
    opened = client.loads(blob)
    assert opened.round == 3 and np.array_equal(opened.weights, update.weights)
    broadcast = server.dumps({"all": True})
    assert len(api.inspect(broadcast).recipients) == 2
    with pytest.raises(api.SealArgumentError):
        server.dumps(1, to=["nobody"])
    stream = io.BytesIO()
    client.dump({"reply": 1}, stream)
    assert server.load(io.BytesIO(stream.getvalue())) == {"reply": 1}
    with pytest.raises(errors.NotARecipientError):
        api.SecureSerializer(carol, peers=[alice.bundle()], codec=Codec()).loads(blob)
    client.reset()
    with pytest.raises(errors.UnknownTypeError):
        client.loads(server.dumps(update, to="bob"))


def test_secure_serializer_pins_peers(alice: Identity) -> None:
    trust = TrustStore()
    api.SecureSerializer(alice, peers=[_identity("bob").bundle()], store=trust)
    with pytest.raises(errors.IdentityChangedError):
        api.SecureSerializer(alice, peers=[_identity("bob").bundle()], store=trust)
