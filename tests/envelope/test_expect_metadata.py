"""Issue 10.2: the caller's expected context is checked after the signature and before
anything is recorded, so a relay delivering a blob in the wrong context burns nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sealpack import api, errors
from sealpack.keys import Identity, TrustStore
from sealpack.secure_serializer import SecureSerializer
from tests.envelope.conftest import NOW, identity

CONTEXT = {"run": "r-17", "round": 4, "task": "train", "direction": "server->client"}


def _blob(alice: Identity, bob: Identity, **metadata: Any) -> bytes:
    return api.seal(
        {"w": [1, 2]}, sender=alice, recipients=[bob.bundle()], metadata=metadata, now=NOW
    )


def test_wrong_context_burns_nothing_and_the_blob_opens_later() -> None:
    """The relay attack: delivered first in another context, the honest delivery must
    still open (the one-time prekey and the message id untouched)."""
    alice, bob = identity("alice", 0), identity("bob", 2)
    blob = _blob(alice, bob, **CONTEXT)
    assert api.inspect(blob).recipients[0].one_time_prekey_id == 1
    wrong = {**CONTEXT, "round": 5}
    with pytest.raises(errors.ContextMismatchError, match="round"):
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=wrong)
    assert bob.one_time_prekey_ids() == [1, 2]
    assert (
        bob.replay_guard.lookup(alice.key_id, bytes.fromhex(api.inspect(blob).message_id)) is None
    )
    got = api.unseal(
        blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=CONTEXT
    )
    assert got == {"w": [1, 2]}


def test_predicate_and_its_failures() -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = _blob(alice, bob, **CONTEXT)
    open_ = lambda expect: api.unseal(  # noqa: E731
        blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=expect
    )
    with pytest.raises(errors.ContextMismatchError):
        open_(lambda meta: meta["round"] == 3)
    with pytest.raises(errors.ContextMismatchError):
        open_(lambda meta: 1)  # only True accepts, not a truthy value
    with pytest.raises(errors.ContextMismatchError, match="KeyError"):
        open_(lambda meta: meta["missing"])
    assert open_(lambda meta: meta["round"] == 4) == {"w": [1, 2]}


@pytest.mark.parametrize(
    "expected",
    [
        {"round": True},  # a bool never equals an int here
        {"round": 4.0},
        {"round": "4"},
        {"absent": None},
        {"direction": "client->server"},
    ],
)
def test_mapping_compares_strictly(expected: dict[str, Any]) -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = _blob(alice, bob, **CONTEXT, tags=["a", "b"])
    with pytest.raises(errors.ContextMismatchError):
        api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=expected)
    ok = {"tags": ("a", "b"), "round": 4}  # a tuple matches the msgpack array
    assert api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=ok)


def test_tampered_blob_is_tampering_not_a_context_mismatch() -> None:
    """The metadata is compared only once the signature verified."""
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = bytearray(_blob(alice, bob, **CONTEXT))
    blob[-1] ^= 1
    with pytest.raises(errors.TamperedError):
        api.unseal(
            bytes(blob), recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata={"x": 1}
        )


def test_streaming_and_serializer_take_the_expectation() -> None:
    alice, bob = identity("alice", 0), identity("bob", 1)
    blob = _blob(alice, bob, **CONTEXT)
    with pytest.raises(errors.ContextMismatchError):
        api.unseal_from(
            io.BytesIO(blob),
            recipient=bob,
            senders=[alice.bundle()],
            now=NOW,
            expect_metadata={"task": "eval"},
        )
    secure = SecureSerializer(bob, peers=[alice.bundle()], store=TrustStore())
    current = api.seal({"w": 0}, sender=alice, recipients=[bob.bundle()], metadata=CONTEXT)
    with pytest.raises(errors.ContextMismatchError):
        secure.loads(current, expect_metadata={"task": "eval"})
    assert secure.loads(current, expect_metadata={"task": "train"}) == {"w": 0}
    obj, info = api.unseal_from(
        io.BytesIO(blob),
        recipient=bob,
        senders=[alice.bundle()],
        now=NOW,
        expect_metadata={"task": "train"},
        with_metadata=True,
    )
    assert obj == {"w": [1, 2]} and info.metadata["task"] == "train"


def test_bad_expectation_type_is_an_argument_error() -> None:
    alice, bob = identity("alice", 0), identity("bob", 0)
    blob = _blob(alice, bob)
    for bad in ([("round", 1)], "round", {1: "x"}):
        with pytest.raises(errors.SealArgumentError):
            api.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect_metadata=bad)
