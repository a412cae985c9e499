"""TrustStore: pin a peer's identity key on first use, alert on change."""

from __future__ import annotations

import hmac
import threading
from typing import Protocol

from sealpack import errors
from sealpack.keys.bundle import KeyBundle
from sealpack.keys.fingerprint import fingerprint

__all__ = ["MemoryPinBackend", "PinBackend", "TrustStore"]


class PinBackend(Protocol):
    """Where pins live: a dict in memory or the key store's SQLite database."""

    def get_pin(self, name: str) -> bytes | None:
        """Return the pinned identity key of ``name``, or None."""

    def set_pin(self, name: str, identity_key: bytes) -> None:
        """Pin (or re-pin) ``name`` to ``identity_key``, durably."""

    def pinned_names(self) -> list[str]:
        """Return every pinned name, sorted."""


class MemoryPinBackend:
    """Pins held in a dict."""

    def __init__(self) -> None:
        self._pins: dict[str, bytes] = {}

    def get_pin(self, name: str) -> bytes | None:
        """Return the pinned identity key of ``name``, or None."""
        return self._pins.get(name)

    def set_pin(self, name: str, identity_key: bytes) -> None:
        """Pin ``name`` to ``identity_key``."""
        self._pins[name] = identity_key

    def pinned_names(self) -> list[str]:
        """Return every pinned name, sorted."""
        return sorted(self._pins)


class TrustStore:
    """Trust on first use for peer bundles.

    ``check(bundle)`` pins an unknown name to the bundle's identity key and accepts a
    bundle whose key matches the pin; a different key raises IdentityChangedError until
    ``accept(bundle)`` re-trusts it (after an out-of-band fingerprint comparison).
    """

    def __init__(self, backend: PinBackend | None = None) -> None:
        self._backend: PinBackend = backend if backend is not None else MemoryPinBackend()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TrustStore(pinned={len(self._backend.pinned_names())})"

    def check(self, bundle: KeyBundle) -> KeyBundle:
        """Pin on first use, or confirm the pinned identity.

        Returns:
            The bundle, when trusted.

        Raises:
            IdentityChangedError: the name is pinned to another identity key.
            SealArgumentError: ``bundle`` is not a KeyBundle.
        """
        _require_bundle(bundle)
        with self._lock:
            pinned = self._backend.get_pin(bundle.name)
            if pinned is None:
                self._backend.set_pin(bundle.name, bundle.identity_key)
                return bundle
        if not hmac.compare_digest(pinned, bundle.identity_key):
            raise errors.IdentityChangedError(
                f"identity of {bundle.name!r} changed: pinned fingerprint {fingerprint(pinned)}, "
                f"presented fingerprint {bundle.fingerprint()}; compare out of band, "
                "then accept() the new bundle to trust it"
            )
        return bundle

    def accept(self, bundle: KeyBundle) -> None:
        """Trust this bundle's identity key for its name, replacing any pin.

        Raises:
            SealArgumentError: ``bundle`` is not a KeyBundle.
        """
        _require_bundle(bundle)
        with self._lock:
            self._backend.set_pin(bundle.name, bundle.identity_key)

    def pinned_key(self, name: str) -> bytes | None:
        """Return the identity key pinned for ``name``, or None.

        Raises:
            SealArgumentError: ``name`` is not a str.
        """
        if not isinstance(name, str):
            raise errors.SealArgumentError(f"name must be a str, not {type(name).__name__}")
        return self._backend.get_pin(name)

    def is_trusted(self, bundle: KeyBundle) -> bool:
        """Return True when the bundle's identity key is the one pinned for its name.

        Raises:
            SealArgumentError: ``bundle`` is not a KeyBundle.
        """
        _require_bundle(bundle)
        pinned = self._backend.get_pin(bundle.name)
        return pinned is not None and hmac.compare_digest(pinned, bundle.identity_key)

    def names(self) -> list[str]:
        """Return every pinned name, sorted."""
        return self._backend.pinned_names()


def _require_bundle(bundle: object) -> None:
    if not isinstance(bundle, KeyBundle):
        raise errors.SealArgumentError(f"expected a KeyBundle, not {type(bundle).__name__}")
