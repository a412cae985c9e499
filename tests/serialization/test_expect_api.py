"""``expect=`` through the sealing API: unseal, unseal_from, SecureSerializer.loads."""

from __future__ import annotations

import io

import numpy as np
import pytest

import sealpack
from sealpack import errors


@pytest.fixture(scope="module")
def pair() -> tuple[sealpack.Identity, sealpack.Identity]:
    return sealpack.Identity.generate("alice"), sealpack.Identity.generate("bob")


def test_unseal_checks_the_expectation(pair: tuple[sealpack.Identity, sealpack.Identity]) -> None:
    alice, bob = pair
    reference = {"w": np.zeros((4, 2), np.float32)}
    good = sealpack.seal(
        {"w": np.ones((4, 2), np.float32)}, sender=alice, recipients=[bob.bundle()]
    )
    opened = sealpack.unseal(
        good, recipient=bob, senders=[alice.bundle()], expect=sealpack.like(reference)
    )
    assert opened["w"].dtype == np.float32
    bad = sealpack.seal({"w": np.ones((4, 2))}, sender=alice, recipients=[bob.bundle()])
    with pytest.raises(
        errors.SchemaError, match=r"\$\.w: expected float32\[4, 2\], got float64\[4, 2\]"
    ):
        sealpack.unseal(
            bad, recipient=bob, senders=[alice.bundle()], expect=sealpack.like(reference)
        )
    stream = sealpack.seal([1, 2], sender=alice, recipients=[bob.bundle()])
    with pytest.raises(errors.SchemaError, match=r"\$\[0\]: expected str, got int"):
        sealpack.unseal_from(
            io.BytesIO(stream), recipient=bob, senders=[alice.bundle()], expect=list[str]
        )


def test_secure_serializer_loads_checks_the_expectation(
    pair: tuple[sealpack.Identity, sealpack.Identity],
) -> None:
    alice, bob = pair
    sender = sealpack.SecureSerializer(alice, peers=[bob.bundle()])
    receiver = sealpack.SecureSerializer(bob, peers=[alice.bundle()])
    assert receiver.loads(sender.dumps({"loss": 0.5}, to=["bob"]), expect=dict[str, float]) == {
        "loss": 0.5
    }
    with pytest.raises(errors.SchemaError, match=r"\$\.loss: expected float, got str"):
        receiver.loads(sender.dumps({"loss": "x"}, to=["bob"]), expect=dict[str, float])
