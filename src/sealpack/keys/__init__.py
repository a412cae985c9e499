"""Identities, prekeys, key bundles, fingerprints, trust on first use and the key store."""

from __future__ import annotations

from sealpack.keys.app_signature import verify_app_signature
from sealpack.keys.bundle import KeyBundle
from sealpack.keys.fingerprint import fingerprint, fingerprint_matches, key_id
from sealpack.keys.identity import Identity
from sealpack.keys.keystore import KeyStore
from sealpack.keys.prekey_usage import MemoryPrekeyUsage, PrekeyUsage
from sealpack.keys.prekeys import (
    OneTimePrekeyPublic,
    PQOneTimePrekeyPublic,
    PQPrekeyPublic,
    SignedPrekeyPublic,
)
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
    "PQOneTimePrekeyPublic",
    "PQPrekeyPublic",
    "PrekeyUsage",
    "PrivateKeyExportError",
    "ReplayGuard",
    "SignedPrekeyPublic",
    "TrustStore",
    "fingerprint",
    "fingerprint_matches",
    "key_id",
    "verify_app_signature",
]
