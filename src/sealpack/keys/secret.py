"""Opaque private-key handles.

A handle holds raw key bytes but never shows them: ``repr``/``str`` print only the key
kind, pickling and copying are refused. Raw bytes leave a handle only through
:func:`export_raw`, which the key store uses to write its (encrypted) file.
"""

from __future__ import annotations

import threading
from typing import ClassVar, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sealpack import errors, primitives

__all__ = [
    "Ed25519Seed",
    "MLKEMSecret",
    "PrivateKeyExportError",
    "RefusesExport",
    "SymmetricKey",
    "X25519Secret",
    "export_raw",
]


PrivateKeyExportError = errors.PrivateKeyExportError


_REFUSAL = "private keys cannot be pickled or copied; export them only through a KeyStore"


class RefusesExport:
    """Mixin: pickling and copying raise PrivateKeyExportError(``_export_refusal``)."""

    __slots__ = ()
    _export_refusal: ClassVar[str] = _REFUSAL

    def __reduce__(self) -> NoReturn:
        raise PrivateKeyExportError(self._export_refusal)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise PrivateKeyExportError(self._export_refusal)

    def __getstate__(self) -> NoReturn:
        raise PrivateKeyExportError(self._export_refusal)

    def __copy__(self) -> NoReturn:
        raise PrivateKeyExportError(self._export_refusal)

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise PrivateKeyExportError(self._export_refusal)


class _Opaque(RefusesExport):
    """Base for private handles: hides bytes, refuses pickling and copying."""

    __slots__ = ("__raw",)
    _SIZE: ClassVar[int] = primitives.KEY_SIZE

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != self._SIZE:
            raise primitives.InvalidKeyError(f"a private key is {self._SIZE} bytes")
        self.__raw = raw

    def _raw(self) -> bytes:
        return self.__raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


_PUBLIC_KEY_TYPE = type(X25519PublicKey.from_public_bytes(bytes([9]) + bytes(31)))
"""pyca's concrete X25519 public-key class (the base point's key, parsed once)."""
STATIC_MEMO_SIZE = 4096
"""Peers whose static-static secret one handle remembers (the recipient limit of a blob)."""
_MEMO_LOCK = threading.Lock()


class X25519Secret(_Opaque):
    """An X25519 private key; does Diffie-Hellman without exposing itself.

    The key object is built once here, not on every exchange (issue 18: rebuilding it
    cost ~35 us per exchange, seven times per round trip).
    """

    __slots__ = ("_key", "_memo", "public")

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self._key = X25519PrivateKey.from_private_bytes(raw)
        self.public: bytes = self._key.public_key().public_bytes_raw()
        self._memo: dict[bytes, bytes] = {}

    def exchange(self, peer_public: bytes | X25519PublicKey) -> bytes:
        """Return X25519(self, peer_public): raw bytes, or a key parsed once by
        ``primitives.x25519_public_key`` / ``x25519_static_public``.

        Raises:
            InvalidKeyError: raw bytes that are not 32 bytes long.
            TamperedError: the result is all zeros (peer key of small order).
        """
        if type(peer_public) is _PUBLIC_KEY_TYPE or (
            not isinstance(peer_public, (bytes, bytearray, memoryview))
            and isinstance(peer_public, X25519PublicKey)
        ):  # the first test skips the ABC check of pyca's own key class (issue 18)
            return primitives.x25519_with_key(self._key, peer_public)
        return primitives.x25519_with(self._key, peer_public)

    def exchange_static(self, peer_public: bytes) -> bytes:
        """:meth:`exchange` with a long-lived peer key, remembered (X3DH's DH1, issue 18).

        A DH between two static keys (identity key and signed prekey) gives the same
        secret for every message, so it is computed once per peer and kept *in this
        handle*: only what this handle's own private key derives from public keys, at
        most STATIC_MEMO_SIZE peers (the oldest dropped first), gone with the handle (a
        retired prekey, a re-read key store). A refused peer key raises every time and
        is never remembered.

        Raises:
            InvalidKeyError, TamperedError: as :meth:`exchange`.
        """
        if type(peer_public) is not bytes:
            return self.exchange(peer_public)
        shared = self._memo.get(peer_public)
        if shared is None:
            shared = primitives.x25519_with_key(
                self._key, primitives.x25519_static_public(peer_public)
            )
            with _MEMO_LOCK:
                if len(self._memo) >= STATIC_MEMO_SIZE:
                    del self._memo[next(iter(self._memo))]
                self._memo[peer_public] = shared
        return shared


class Ed25519Seed(_Opaque):
    """An Ed25519 identity seed: signs, and yields its X25519 form for DH."""

    __slots__ = ("_signer", "public", "x25519")

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self._signer = Ed25519PrivateKey.from_private_bytes(raw)  # built once (issue 18)
        self.public: bytes = self._signer.public_key().public_bytes_raw()
        self.x25519 = X25519Secret(primitives.ed25519_seed_to_x25519_private(raw))

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message`` (RFC 8032, deterministic)."""
        return self._signer.sign(message)


class MLKEMSecret(_Opaque):
    """An ML-KEM-768 private key, held as its 64-byte seed; decapsulates without exposing it."""

    __slots__ = ("_key", "public")
    _SIZE: ClassVar[int] = primitives.MLKEM768_SEED_SIZE

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self._key = primitives.mlkem768_private_from_seed(raw)
        self.public: bytes = self._key.public_key().public_bytes_raw()

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """Return the 32-byte shared secret of ``ciphertext``.

        Raises:
            TamperedError: the ciphertext is malformed (wrong length or type).
        """
        return primitives.mlkem768_decapsulate(self._key, ciphertext)


def export_raw(secret: X25519Secret | Ed25519Seed | MLKEMSecret) -> bytes:
    """Return the raw bytes of a handle (an ML-KEM key: its 64-byte seed). Key store only."""
    return secret._raw()


class SymmetricKey(_Opaque):
    """A 32-byte AES-256-GCM key (e.g. the key store's file key).

    The nonce never crosses this interface: :meth:`encrypt` draws a fresh 12-byte
    nonce from ``rng`` and returns ``nonce || ciphertext || tag``; :meth:`decrypt`
    takes that same layout.
    """

    __slots__ = ()

    NONCE_SIZE: ClassVar[int] = primitives.GCM_NONCE_SIZE

    def encrypt(self, data: bytes, aad: bytes, *, rng: primitives.Rng | None = None) -> bytes:
        """AES-256-GCM encrypt under this key with a fresh random nonce.

        Args:
            data: the plaintext.
            aad: associated data, authenticated but not encrypted.
            rng: randomness for the nonce (default ``os.urandom``).

        Returns:
            ``nonce (12 bytes) || ciphertext || tag (16 bytes)``.
        """
        nonce = primitives.random_bytes(self.NONCE_SIZE, rng=rng)
        return nonce + primitives._aes256gcm_encrypt(self._raw(), nonce, data, aad)

    def decrypt(self, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt ``nonce || ciphertext || tag`` as made by :meth:`encrypt`.

        Raises:
            TamperedError: too short, or the tag does not verify.
        """
        if len(sealed) < self.NONCE_SIZE:
            raise errors.TamperedError()
        nonce, ciphertext = sealed[: self.NONCE_SIZE], sealed[self.NONCE_SIZE :]
        return primitives._aes256gcm_decrypt(self._raw(), nonce, ciphertext, aad)
