"""The key store's warnings: keys stored unencrypted, a signed prekey due for rotation."""

from __future__ import annotations

import warnings
from pathlib import Path

from sealpack.keys.identity import Identity

__all__ = [
    "ROTATE_WARNING_FRACTION",
    "UNENCRYPTED_WARNING",
    "warn_if_signed_prekey_ages",
    "warn_unencrypted",
]

UNENCRYPTED_WARNING = (
    "sealpack key store {path} holds private keys UNENCRYPTED on disk; "
    "anyone who can read the directory can impersonate this identity"
)
ROTATE_WARNING_FRACTION = 0.2
"""Warn on open when the current signed prekey is in the last 20% of its lifetime."""


def warn_unencrypted(path: Path, stacklevel: int = 3) -> None:
    """Emit the UserWarning for a store that keeps its keys in the clear."""
    warnings.warn(UNENCRYPTED_WARNING.format(path=path), UserWarning, stacklevel=stacklevel)


def warn_if_signed_prekey_ages(path: Path, identity: Identity, now: int) -> None:
    """Warn when the current signed prekey has expired or is close to expiring."""
    state = identity._state
    spk = state.signed_prekeys[state.current_signed_prekey_id]
    lifetime = spk.expires - spk.created
    if now >= spk.expires:
        what = "has EXPIRED: peers can no longer seal to this identity's bundle"
    elif now >= spk.expires - lifetime * ROTATE_WARNING_FRACTION:
        what = f"expires in {(spk.expires - now) // 3600} hour(s)"
    else:
        return
    warnings.warn(
        f"the signed prekey of key store {path} {what}; run `sealpack prekeys rotate` "
        "and publish the new bundle",
        UserWarning,
        stacklevel=3,
    )
