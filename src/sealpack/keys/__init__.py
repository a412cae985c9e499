"""Identities, prekeys, key bundles, fingerprints, trust on first use and the key store."""

from __future__ import annotations

from sealpack.keys.bundle import KeyBundle
from sealpack.keys.fingerprint import fingerprint, key_id
from sealpack.keys.identity import Identity
from sealpack.keys.keystore import KeyStore
from sealpack.keys.prekey_usage import MemoryPrekeyUsage, PrekeyUsage
from sealpack.keys.prekeys import OneTimePrekeyPublic, SignedPrekeyPublic
from sealpack.keys.replay import MemoryReplayGuard, ReplayGuard
from sealpack.keys.secret import PrivateKeyExportError
from sealpack.keys.trust import TrustStore

__all__ = [
    "Identity",
    "KeyBundle",
    "KeyStore",
    "MemoryPrekeyUsage",
    "MemoryReplayGuard",
    "OneTimePrekeyPublic",
    "PrekeyUsage",
    "PrivateKeyExportError",
    "ReplayGuard",
    "SignedPrekeyPublic",
    "TrustStore",
    "fingerprint",
    "key_id",
]
