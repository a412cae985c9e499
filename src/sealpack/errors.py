"""The exceptions sealpack raises, in one flat module.

Every failure caused by bad input is a subclass of :class:`SealpackError`.
No exception from msgpack, struct or cryptography ever escapes the library.
Messages never contain key material.

Tampering of any kind with a sealed blob raises :class:`TamperedError` with one
fixed message, whatever check failed, so an attacker learns nothing from it.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSenderError",
    "BundleError",
    "ContextMismatchError",
    "CycleError",
    "DecodeError",
    "DowngradeError",
    "ExpiredError",
    "IdentityChangedError",
    "InvalidKeyError",
    "KeyStoreError",
    "KeyStoreLockedError",
    "LimitExceededError",
    "NotARecipientError",
    "PrekeyError",
    "PrivateKeyExportError",
    "ReplayError",
    "SchemaError",
    "SealArgumentError",
    "SealpackError",
    "SerializationTypeError",
    "StorageError",
    "TamperedError",
    "TransportError",
    "UnknownSenderError",
    "UnknownTypeError",
    "UnsafePathError",
    "UnsupportedVersionError",
    "UntrustedSenderError",
    "WrongPassphraseError",
]


class SealpackError(Exception):
    """Base class of every error sealpack raises on bad input or state."""


# --- codec -----------------------------------------------------------------


class SerializationTypeError(SealpackError, TypeError):
    """An object of a type with no registered decomposer was given to the encoder."""


class SealArgumentError(SealpackError, ValueError):
    """An argument given to seal is invalid (no recipients, bad expiry, bad content type)."""


class CycleError(SealpackError, ValueError):
    """The object graph given to the encoder contains a reference cycle."""


class DecodeError(SealpackError):
    """A codec frame is malformed (truncated, inconsistent, out of range)."""


class UnknownTypeError(DecodeError):
    """A codec frame names a type the receiver has not registered."""


class LimitExceededError(DecodeError):
    """Input exceeds a configured decode limit (depth, counts, sizes)."""


class SchemaError(DecodeError):
    """A decoded value does not match the receiver's ``expect=`` annotation.

    The message names the path of the first mismatch, e.g.
    ``$.layers[3].weight: expected float32[128, 64], got float64[128, 64]``.
    """


# --- keys, bundles, trust ---------------------------------------------------


class InvalidKeyError(SealpackError, ValueError):
    """A key, point or parameter has the wrong size or is not a valid curve point."""


class PrivateKeyExportError(SealpackError, TypeError):
    """A private key object was pickled or copied; export goes through the KeyStore."""


class BundleError(SealpackError):
    """A key bundle is malformed, badly signed, expired or holds an invalid key."""


class PrekeyError(SealpackError):
    """A prekey is unknown, expired, or a one-time prekey was already used."""


class IdentityChangedError(SealpackError):
    """A pinned peer presented a different identity key (names both fingerprints)."""


class KeyStoreError(SealpackError):
    """The key store on disk is missing, unreadable or inconsistent."""


class WrongPassphraseError(KeyStoreError):
    """The passphrase does not decrypt the key store."""


class KeyStoreLockedError(KeyStoreError):
    """Another handle holds the key store's lock longer than the caller would wait."""


# --- envelope ----------------------------------------------------------------


class TamperedError(SealpackError):
    """A sealed blob failed authentication. Deliberately carries no detail."""

    MESSAGE = "sealed blob failed authentication"

    def __init__(self, *_ignored: object) -> None:
        super().__init__(self.MESSAGE)


class UnsupportedVersionError(SealpackError):
    """A sealed blob or bundle has a format version this library does not support."""


class NotARecipientError(SealpackError):
    """The blob holds no recipient stanza for this identity."""


class UnknownSenderError(SealpackError):
    """The blob's sender is not among the given sender bundles."""


class UntrustedSenderError(SealpackError):
    """The blob's sender is known but not trusted (e.g. its pinned identity changed)."""


class AmbiguousSenderError(UntrustedSenderError):
    """One identity key is known under more than one name; sealpack refuses to choose."""


class DowngradeError(SealpackError):
    """A post-quantum protection the peer advertised is missing (classical-only stanza
    to a hybrid recipient, or sealing classically without ``allow_classical=True``)."""


class ContextMismatchError(SealpackError):
    """The blob is authentic but its signed metadata is not what the caller expected
    (another run, round, task or direction). Nothing was recorded: the blob can still be
    opened in its right context."""


class ExpiredError(SealpackError):
    """The blob's validity window has passed (or it is from the future beyond skew)."""


class ReplayError(SealpackError):
    """The blob's message id was already accepted by this recipient."""


# --- exchange ----------------------------------------------------------------


class TransportError(SealpackError):
    """A transport operation failed (missing peer, unreadable folder, bad name)."""


class UnsafePathError(TransportError):
    """A path under a datasite root is a symlink, leaves the root, or is not the kind of
    file it must be. Nothing was followed, moved or deleted."""


class StorageError(SealpackError, OSError):
    """Local storage failed while sealing or opening (I/O error, disk full). Nothing was
    delivered or recorded; the blob can be opened again once storage works."""
