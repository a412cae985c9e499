"""Fixtures for envelope tests: small identities, a fixed clock, small chunks."""

from __future__ import annotations

import pytest

from sealpack.envelope import opener, sealer
from sealpack.keys import Identity, KeyBundle

NOW = 1_800_000_000
SMALL_CHUNK = 1024


class FailingWrite:
    """A ``write`` that raises ``OSError("disk full")`` at its ``fail_at``-th call."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at, self.calls = fail_at, 0

    def __call__(self, view: memoryview) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError("disk full")


def sender_of(bundle: KeyBundle) -> opener.Sender:
    return opener.Sender(bundle.name, bundle.identity_key, bundle)


def resolver(*bundles: KeyBundle) -> opener.SenderResolver:
    """Resolve only the given bundles; anything else is an unknown sender."""
    from sealpack.envelope.senders import sender_resolver

    return sender_resolver(list(bundles))


def small_options(**kwargs: object) -> sealer.SealOptions:
    kwargs.setdefault("chunk_size", SMALL_CHUNK)
    return sealer.SealOptions(**kwargs)  # type: ignore[arg-type]


def identity(name: str, one_time_prekeys: int) -> Identity:
    """A fresh identity whose signed prekey was created a minute before NOW."""
    return Identity.generate(name, one_time_prekeys=one_time_prekeys, now=NOW - 60)


@pytest.fixture
def alice() -> Identity:
    return identity("alice", 2)


@pytest.fixture
def bob() -> Identity:
    return identity("bob", 3)


@pytest.fixture
def carol() -> Identity:
    return identity("carol", 0)


@pytest.fixture
def mallory() -> Identity:
    return identity("mallory", 1)
