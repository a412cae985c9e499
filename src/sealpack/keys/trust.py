"""TrustStore: pin a peer's identity key on first use, alert on change.

One identity key is pinned under exactly one name (issue 10.1): a bundle whose key is
pinned under another name is refused by :meth:`TrustStore.check` and
:meth:`TrustStore.accept`, and :meth:`TrustStore.name_for_key` resolves a sender's key
to its one name (or refuses an ambiguous key left by an older store).
"""

from __future__ import annotations

import hmac
import threading
from typing import Protocol

from sealpack import errors
from sealpack.keys.arguments import require_bytes
from sealpack.keys.bundle import KeyBundle
from sealpack.keys.fingerprint import fingerprint, fingerprint_matches

__all__ = [
    "AtomicPinBackend",
    "KeyLookupPinBackend",
    "MemoryPinBackend",
    "PinBackend",
    "TrustStore",
]


class PinBackend(Protocol):
    """Where pins live: a dict in memory or the key store's SQLite database."""

    def get_pin(self, name: str) -> bytes | None:
        """Return the pinned identity key of ``name``, or None."""

    def set_pin(self, name: str, identity_key: bytes) -> None:
        """Pin (or re-pin) ``name`` to ``identity_key``, durably."""

    def pinned_names(self) -> list[str]:
        """Return every pinned name, sorted."""


class KeyLookupPinBackend(PinBackend, Protocol):
    """A backend that also finds names by key (else TrustStore scans every pin)."""

    def names_for_key(self, identity_key: bytes) -> list[str]:
        """Return every name pinned to ``identity_key``, sorted."""


class AtomicPinBackend(PinBackend, Protocol):
    """A backend that checks and changes pins in one transaction (see StateDB)."""

    def pin_if_absent(self, name: str, identity_key: bytes) -> tuple[bytes | None, list[str]]:
        """Pin unless pinned; return (the existing pin or None, the key's other names)."""

    def replace_pin(self, name: str, identity_key: bytes) -> list[str]:
        """Pin unless the key has other names; return those other names."""


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

    def names_for_key(self, identity_key: bytes) -> list[str]:
        """Return every name pinned to ``identity_key``, sorted."""
        return sorted(n for n, k in self._pins.items() if hmac.compare_digest(k, identity_key))


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
            IdentityChangedError: the name is pinned to another identity key, or the
                identity key is pinned under another name.
            SealArgumentError: ``bundle`` is not a KeyBundle.
        """
        _require_bundle(bundle)
        pinned = self._backend.get_pin(bundle.name)  # a known peer: one read
        if pinned is None:
            pinned = self._pin_if_absent(bundle)
            if pinned is None:
                return bundle
        if not hmac.compare_digest(pinned, bundle.identity_key):
            raise errors.IdentityChangedError(
                f"identity of {bundle.name!r} changed: pinned fingerprint {fingerprint(pinned)}, "
                f"presented fingerprint {bundle.fingerprint()}; compare out of band, "
                "then accept() the new bundle to trust it"
            )
        return bundle

    def _pin_if_absent(self, bundle: KeyBundle) -> bytes | None:
        """Pin an unknown name atomically; return the pin found instead, if any.

        An AtomicPinBackend (the key store) looks up and inserts in one transaction
        across processes; other backends do it under this store's lock.
        """
        atomic = getattr(self._backend, "pin_if_absent", None)
        with self._lock:
            pinned: bytes | None
            others: list[str]
            if atomic is not None:
                pinned, others = atomic(bundle.name, bundle.identity_key)
            else:
                pinned = self._backend.get_pin(bundle.name)
                others = [] if pinned is not None else self._other_names(bundle)
                if pinned is None and not others:
                    self._backend.set_pin(bundle.name, bundle.identity_key)
        if others:
            raise _other_names_error(bundle, others[0])
        return pinned

    def accept(self, bundle: KeyBundle, *, expect_fingerprint: str | None = None) -> None:
        """Trust this bundle's identity key for its name, replacing the name's pin.

        Args:
            bundle: the bundle to trust.
            expect_fingerprint: the safety number compared out of band; when given,
                a bundle with any other identity is refused and nothing changes.

        Raises:
            IdentityChangedError: the identity key is pinned under another name, or it
                is not the expected fingerprint's.
            SealArgumentError: ``bundle`` is not a KeyBundle.
        """
        _require_bundle(bundle)
        if expect_fingerprint is not None and not fingerprint_matches(
            bundle.identity_key, expect_fingerprint
        ):
            raise errors.IdentityChangedError(
                f"the bundle of {bundle.name!r} has fingerprint {bundle.fingerprint()}, not "
                "the expected one; nothing was pinned"
            )
        atomic = getattr(self._backend, "replace_pin", None)
        with self._lock:
            if atomic is not None:  # the key store: check and change in one transaction
                others: list[str] = atomic(bundle.name, bundle.identity_key)
            else:
                others = self._other_names(bundle)
                if not others:
                    self._backend.set_pin(bundle.name, bundle.identity_key)
        if others:
            raise _other_names_error(bundle, others[0])

    def _names_for_key(self, identity_key: bytes) -> list[str]:
        lookup = getattr(self._backend, "names_for_key", None)
        if lookup is not None:
            return list(lookup(identity_key))
        names = self._backend.pinned_names()
        pins = ((name, self._backend.get_pin(name)) for name in names)
        return sorted(n for n, k in pins if k is not None and hmac.compare_digest(k, identity_key))

    def _other_names(self, bundle: KeyBundle) -> list[str]:
        return [n for n in self._names_for_key(bundle.identity_key) if n != bundle.name]

    def name_for_key(self, identity_key: bytes) -> str | None:
        """Return the one name ``identity_key`` is pinned under, or None.

        Raises:
            AmbiguousSenderError: the key is pinned under several names (an older store).
            SealArgumentError: ``identity_key`` is not bytes.
        """
        key = require_bytes(identity_key, "identity_key")
        names = self._names_for_key(key)
        if len(names) > 1:
            shown = ", ".join(repr(n) for n in names[:5])
            raise errors.AmbiguousSenderError(
                f"one identity key is pinned under several names ({shown}); refusing to "
                "choose a sender"
            )
        return names[0] if names else None

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


def _other_names_error(bundle: KeyBundle, other: str) -> errors.IdentityChangedError:
    return errors.IdentityChangedError(
        f"the identity key presented as {bundle.name!r} is already pinned under the "
        f"name {other!r}; one identity key has exactly one name (a peer may be "
        "republishing another peer's bundle under its own name)"
    )


def _require_bundle(bundle: object) -> None:
    if not isinstance(bundle, KeyBundle):
        raise errors.SealArgumentError(f"expected a KeyBundle, not {type(bundle).__name__}")
