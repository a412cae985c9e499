"""Opaque private-key handles.

A handle holds raw key bytes but never shows them: ``repr``/``str`` print only the key
kind, pickling and copying are refused. Raw bytes leave a handle only through
:func:`export_raw`, which the key store uses to write its (encrypted) file.
"""

from __future__ import annotations

from typing import ClassVar, NoReturn

from sealpack import errors, primitives

__all__ = [
    "Ed25519Seed",
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

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes) or len(raw) != primitives.KEY_SIZE:
            raise primitives.InvalidKeyError("a private key is 32 bytes")
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


class X25519Secret(_Opaque):
    """An X25519 private key; does Diffie-Hellman without exposing itself."""

    __slots__ = ("public",)

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self.public: bytes = primitives.x25519_public_from_private(raw)

    def exchange(self, peer_public: bytes) -> bytes:
        """Return X25519(self, peer_public).

        Raises:
            TamperedError: the result is all zeros (peer key of small order).
        """
        return primitives.x25519(self._raw(), peer_public)


class Ed25519Seed(_Opaque):
    """An Ed25519 identity seed: signs, and yields its X25519 form for DH."""

    __slots__ = ("public", "x25519")

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self.public: bytes = primitives.ed25519_public_from_seed(raw)
        self.x25519 = X25519Secret(primitives.ed25519_seed_to_x25519_private(raw))

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message``."""
        return primitives.ed25519_sign(self._raw(), message)


def export_raw(secret: X25519Secret | Ed25519Seed) -> bytes:
    """Return the raw bytes of a handle. For the key store's file only."""
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
