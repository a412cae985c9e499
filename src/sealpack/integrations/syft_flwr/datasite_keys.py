"""Per-datasite sealpack keys: where they live, how bundles are published and pinned.

Layout, for a SyftBox client whose synced folder is ``<data>/datasites``:

* ``<data>/datasites/<email>/public/sealpack/bundle.json`` - the datasite's public
  KeyBundle, published by its owner (synced to everyone);
* ``<data>/.sealpack/<email>/keystore/`` - its KeyStore (private, outside the synced
  folder; encrypted when the passphrase variable is set);
* ``<data>/.sealpack/<email>/pins/<peer>.json`` - the peer bundles this datasite pinned.

A synced bundle is read without following any symlink, and only from a regular file
of bounded size (a FIFO or device is refused, never waited on). It is never trusted
as such: it must name the email it is published under, carry a valid self-signature,
match an expected fingerprint when one is given, and match the identity pinned on
first use (the KeyStore's durable trust store), else the peer is refused
(:class:`~sealpack.errors.IdentityChangedError` on change).
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sealpack.errors import BundleError, IdentityChangedError, TransportError, UnsafePathError
from sealpack.exchange.folders import open_folder
from sealpack.integrations.syft_flwr.compat import atomic_write_text
from sealpack.integrations.syft_flwr.errors import UnpublishedBundleError
from sealpack.keys import Identity, KeyBundle, KeyStore, fingerprint_matches
from sealpack.primitives import Rng
from sealpack.regular_files import read_regular

__all__ = ["DatasiteKeys", "PinResult", "node_id_for", "open_or_create", "pin_peer", "publish"]

_log = logging.getLogger(__name__)
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
PUBLISHED_FOLDER = ("public", "sealpack")  # below <datasites>/<email>/
BUNDLE_FILE = "bundle.json"


def node_id_for(email: str) -> int:
    """The Flower node id syft-flwr addresses a datasite by (CRC-32 of its email).

    Args:
        email: The datasite's email.

    Returns:
        ``zlib.crc32(email)``, as ``syft_flwr.utils.str_to_int`` computes it.
    """
    return zlib.crc32(email.encode())


@dataclass(frozen=True)
class DatasiteKeys:
    """Where one participant's sealpack files are, given its SyftBox ``datasites`` folder."""

    email: str
    datasites: Path

    @property
    def home(self) -> Path:
        """Private folder beside (never inside) the synced datasites folder."""
        return self.datasites.parent / ".sealpack" / self.email

    @property
    def keystore(self) -> Path:
        """This participant's KeyStore directory."""
        return self.home / "keystore"

    @property
    def pins(self) -> Path:
        """Directory of the peer bundles this participant pinned."""
        return self.home / "pins"

    def published(self, email: str | None = None) -> Path:
        """The public bundle file of ``email`` (default: this participant)."""
        return self.datasites.joinpath(email or self.email, *PUBLISHED_FOLDER, BUNDLE_FILE)


@dataclass(frozen=True)
class PinResult:
    """A pinned peer: its pin file, fingerprint and whether it was pinned just now."""

    email: str
    path: Path
    fingerprint: str
    first_use: bool


def open_or_create(
    keys: DatasiteKeys, passphrase: bytes | None, *, rng: Rng | None = None
) -> KeyStore:
    """Open the participant's KeyStore, creating it (and its identity) on first run.

    Args:
        keys: The participant's paths.
        passphrase: KeyStore passphrase (None: an unencrypted store, with a warning).
        rng: Randomness for a new identity and store (default: the OS).

    Returns:
        The open KeyStore (the caller closes it).
    """
    if (keys.keystore / "identity.key").exists():
        return KeyStore.open(keys.keystore, passphrase=passphrase)
    keys.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = Identity.generate(keys.email, rng=rng)
    return KeyStore.create(
        keys.keystore, identity, passphrase=passphrase, unencrypted=passphrase is None, rng=rng
    )


def publish(keys: DatasiteKeys, store: KeyStore) -> Path:
    """Write the store's current bundle into the datasite's public folder (atomically).

    Returns:
        The published file.
    """
    target = keys.published()
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, store.identity.bundle().to_json())
    return target


def pin_peer(
    keys: DatasiteKeys,
    store: KeyStore,
    peer: str,
    *,
    expected_fingerprint: str | None = None,
    wait: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PinResult:
    """Read ``peer``'s published bundle and pin it (trust on first use).

    Args:
        keys: This participant's paths.
        store: This participant's open KeyStore (its trust store keeps the pins).
        peer: The peer's email.
        expected_fingerprint: The peer's safety number compared out of band; if given,
            any other identity is refused even on first use.
        wait: Seconds to wait for the bundle to be published and synced.
        sleep: How to wait between looks (tests).

    Returns:
        The pin (its file is what the Flower integration is given as trust anchor).

    Raises:
        UnpublishedBundleError: No bundle appeared within ``wait`` seconds.
        BundleError: The bundle is malformed, badly signed or names someone else, or
            its file is not a regular file of at most ``MAX_BUNDLE_BYTES`` reached
            without a symlink (a FIFO, a device, a link: refused at once, never waited on).
        IdentityChangedError: It differs from the expected or the pinned identity.
    """
    bundle = KeyBundle.from_json(_read_published(keys, peer, wait, sleep), now=0)
    if bundle.name != peer:
        raise BundleError(f"the bundle published by {peer!r} names {bundle.name!r}")
    if expected_fingerprint is not None and not fingerprint_matches(
        bundle.identity_key, expected_fingerprint
    ):
        raise IdentityChangedError(
            f"identity of {peer!r} does not match the expected fingerprint: published "
            f"{bundle.fingerprint()}"
        )
    first_use = store.trust_store.pinned_key(peer) is None
    store.trust_store.check(bundle)
    keys.pins.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys.pins / f"{peer}.json"
    atomic_write_text(path, bundle.to_json())
    if first_use:
        _log.warning(
            "sealpack: pinned %s on first use, fingerprint %s (compare out of band)",
            peer,
            bundle.fingerprint(),
        )
    return PinResult(peer, path, bundle.fingerprint(), first_use)


def _read_published(
    keys: DatasiteKeys, peer: str, wait: float, sleep: Callable[[float], None]
) -> bytes:
    """The bytes of ``peer``'s published bundle, waiting up to ``wait`` s for them."""
    deadline = time.monotonic() + wait
    while True:
        data = _read_once(keys, peer)
        if data:
            return data
        if time.monotonic() >= deadline:
            raise UnpublishedBundleError(
                f"no sealpack bundle published at {str(keys.published(peer))!r}"
            )
        sleep(0.2)


def _read_once(keys: DatasiteKeys, peer: str) -> bytes:
    """Read the bundle file once: no symlink followed, a regular file of bounded size only.

    Returns:
        Its bytes (empty while it is missing or not synced yet).
    """
    shown = str(keys.published(peer))
    try:
        with open_folder(keys.datasites, [peer, *PUBLISHED_FOLDER]) as folder:
            return read_regular(folder, BUNDLE_FILE, limit=MAX_BUNDLE_BYTES)
    except UnsafePathError as exc:
        raise BundleError(f"published bundle {shown!r} is reached through a symlink") from exc
    except (TransportError, FileNotFoundError):
        return b""  # a folder or the file is not there (yet)
    except OSError as exc:
        if exc.errno is None:  # read_regular: not a regular file, or too large
            raise BundleError(f"published bundle {shown!r}: {exc}") from exc
        raise UnpublishedBundleError(f"cannot read {shown!r}: {exc.strerror}") from exc


def passphrase_from_env(name: str) -> bytes | None:
    """The KeyStore passphrase held by environment variable ``name`` (None if unset)."""
    value = os.environ.get(name)
    return value.encode() if value else None
