"""Fixtures of the session tests: two identities, in memory or in fast key stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import sealpack
from sealpack.session import Session

PASS = b"session test passphrase"


@pytest.fixture(scope="module")
def pair() -> tuple[sealpack.Identity, sealpack.Identity]:
    """Alice and Bob (classical, to keep generation fast; PQXDH starts are tested too)."""
    alice = sealpack.Identity.generate("alice", one_time_prekeys=4, post_quantum=False)
    bob = sealpack.Identity.generate("bob", one_time_prekeys=4, post_quantum=False)
    return alice, bob


def established(
    alice: sealpack.Identity | sealpack.KeyStore,
    bob: sealpack.Identity | sealpack.KeyStore,
    a_bundle: sealpack.KeyBundle,
    b_bundle: sealpack.KeyBundle,
) -> tuple[Session, Session]:
    """Alice starts, Bob answers, Alice reads the answer: both can send."""
    sa, sb = Session(alice, b_bundle), Session(bob, a_bundle)
    assert sb.open(sa.seal("hello", allow_classical=True)) == "hello"
    assert sa.open(sb.seal("welcome")) == "welcome"
    return sa, sb


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[sealpack.KeyStore, sealpack.KeyStore]]:
    """Alice's and Bob's key stores (scrypt N = 2**10 for speed)."""
    alice = sealpack.Identity.generate("alice", one_time_prekeys=4, post_quantum=False)
    bob = sealpack.Identity.generate("bob", one_time_prekeys=4, post_quantum=False)
    sa = sealpack.KeyStore.create(tmp_path / "a", alice, passphrase=PASS, scrypt_n=2**10)
    sb = sealpack.KeyStore.create(tmp_path / "b", bob, passphrase=PASS, scrypt_n=2**10)
    yield sa, sb
    sa.close()
    sb.close()
