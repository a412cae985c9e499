"""Chunked AES-256-GCM payload encryption (C2SP chunked encryption, "Cobblestone").

The construction follows https://c2sp.org/chunked-encryption exactly, with one
parameter made explicit: the chunk size. With ``chunk_size=C2SP_CHUNK_SIZE``
(16 KiB) this module *is* Cobblestone-256 and passes the C2SP Wycheproof
vectors; the envelope uses the same code with the chunk size its signed header
names (1 MiB by default) and binds that header into the context.

* ``key || base_nonce || commitment = HKDF-Expand-SHA512(prk=input_key,
  info="c2sp.org/chunked-encryption@v1+" || "AEAD_AES_256_GCM" || 0x00 || salt || context)``
* ciphertext = salt (24) || commitment (32) || chunk_0 || ... || chunk_n
* chunk i is AES-256-GCM under ``key`` with nonce ``base_nonce XOR i`` (big endian,
  12 bytes) and empty AAD; every chunk is ``chunk_size`` bytes of plaintext except
  the last, which is always shorter (possibly empty): a short chunk is the
  final-chunk flag, so truncation, extension, reordering and duplication fail.
* The commitment is compared (constant time) before any chunk is decrypted.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sealpack.errors import PrivateKeyExportError, TamperedError

__all__ = [
    "C2SP_CHUNK_SIZE",
    "PREFIX_SIZE",
    "TAG_SIZE",
    "ChunkDecryptor",
    "ChunkEncryptor",
    "ciphertext_length",
    "decrypt",
    "encrypt",
    "iter_plaintext_chunks",
    "plaintext_length",
]

Rng = Callable[[int], bytes]
Buffer = bytes | bytearray | memoryview

C2SP_CHUNK_SIZE = 16 * 1024
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
SALT_SIZE = 24
COMMITMENT_SIZE = 32
PREFIX_SIZE = SALT_SIZE + COMMITMENT_SIZE
MAX_CHUNKS = 1 << 38
_INFO_PREFIX = b"c2sp.org/chunked-encryption@v1+" + b"AEAD_AES_256_GCM" + b"\x00"


def _derive(input_key: bytes, salt: bytes, context: bytes) -> tuple[bytes, int, bytes]:
    """Derive (key, base nonce as int, commitment) from the input key, salt and context."""
    if len(input_key) != KEY_SIZE:
        raise ValueError("chunked encryption needs a 32-byte input key")
    okm = HKDFExpand(
        algorithm=hashes.SHA512(),
        length=KEY_SIZE + NONCE_SIZE + COMMITMENT_SIZE,
        info=_INFO_PREFIX + salt + context,
    ).derive(input_key)
    base_nonce = int.from_bytes(okm[KEY_SIZE : KEY_SIZE + NONCE_SIZE], "big")
    return okm[:KEY_SIZE], base_nonce, okm[KEY_SIZE + NONCE_SIZE :]


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError("chunk size must be a power of two")


def chunk_count(size: int, chunk_size: int) -> int:
    """Number of chunks for a plaintext of ``size`` bytes (the last one is always short)."""
    return size // chunk_size + 1


def ciphertext_length(size: int, chunk_size: int) -> int:
    """Exact ciphertext length (prefix included) for a plaintext of ``size`` bytes."""
    return PREFIX_SIZE + size + TAG_SIZE * chunk_count(size, chunk_size)


def plaintext_length(ct_length: int, chunk_size: int) -> int:
    """Plaintext length for a ciphertext length; raises TamperedError if none fits.

    Args:
        ct_length: total ciphertext length, prefix included.
        chunk_size: plaintext bytes per full chunk.

    Returns:
        The plaintext length.

    Raises:
        TamperedError: no plaintext length encrypts to ``ct_length`` bytes.
    """
    body = ct_length - PREFIX_SIZE
    full, rest = divmod(body, chunk_size + TAG_SIZE)
    if body < TAG_SIZE or rest < TAG_SIZE:
        raise TamperedError()
    return full * chunk_size + rest - TAG_SIZE


def _chunk_nonce(base_nonce: int, index: int) -> bytes:
    """The 12-byte nonce of chunk ``index``: the base nonce XOR the counter."""
    return (base_nonce ^ index).to_bytes(NONCE_SIZE, "big")


class ChunkEncryptor:
    """Encrypts the chunks of one message; every chunk index is used once."""

    __slots__ = ("_aead", "_base_nonce", "chunk_size", "prefix")

    def __init__(
        self,
        input_key: bytes,
        *,
        context: bytes = b"",
        chunk_size: int = C2SP_CHUNK_SIZE,
        rng: Rng | None = None,
        salt: bytes | None = None,
    ) -> None:
        """Derive the message key; ``salt`` is only for known-answer tests."""
        _check_chunk_size(chunk_size)
        salt = salt if salt is not None else (rng or os.urandom)(SALT_SIZE)
        if len(salt) != SALT_SIZE:
            raise ValueError("salt must be 24 bytes")
        key, self._base_nonce, commitment = _derive(input_key, salt, context)
        self._aead = AESGCM(key)
        self.chunk_size = chunk_size
        self.prefix = salt + commitment

    def __reduce__(self) -> str | tuple[object, ...]:
        raise PrivateKeyExportError("ChunkEncryptor holds key material and cannot be pickled")

    def encrypt_chunk_into(self, index: int, plaintext: Buffer, out: memoryview) -> None:
        """Encrypt chunk ``index`` into ``out`` (exactly ``len(plaintext) + 16`` bytes)."""
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError("chunk index out of range")
        nonce = _chunk_nonce(self._base_nonce, index)
        self._aead.encrypt_into(nonce, plaintext, None, out)

    def encrypt_chunk(self, index: int, plaintext: Buffer) -> bytes:
        """Encrypt chunk ``index`` into new bytes (``len(plaintext) + 16``; small payloads)."""
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError("chunk index out of range")
        return self._aead.encrypt(_chunk_nonce(self._base_nonce, index), plaintext, None)


class ChunkDecryptor:
    """Checks the key commitment, then decrypts and authenticates single chunks."""

    __slots__ = ("_aead", "_base_nonce", "chunk_size")

    def __init__(
        self,
        input_key: bytes,
        prefix: Buffer,
        *,
        context: bytes = b"",
        chunk_size: int = C2SP_CHUNK_SIZE,
    ) -> None:
        """Derive the message key from the 56-byte prefix and check its commitment.

        Raises:
            TamperedError: the prefix is short or the commitment does not match.
        """
        _check_chunk_size(chunk_size)
        prefix = bytes(prefix)
        if len(prefix) != PREFIX_SIZE:
            raise TamperedError()
        key, self._base_nonce, commitment = _derive(input_key, prefix[:SALT_SIZE], context)
        if not hmac.compare_digest(commitment, prefix[SALT_SIZE:]):
            raise TamperedError()
        self._aead = AESGCM(key)
        self.chunk_size = chunk_size

    def __reduce__(self) -> str | tuple[object, ...]:
        raise PrivateKeyExportError("ChunkDecryptor holds key material and cannot be pickled")

    def decrypt_chunk_into(self, index: int, ciphertext: Buffer, out: memoryview) -> None:
        """Authenticate and decrypt chunk ``index`` into ``out`` (``len(ciphertext) - 16``).

        Raises:
            TamperedError: the chunk fails authentication or has an impossible length.
        """
        if not 0 <= index < MAX_CHUNKS or not TAG_SIZE <= len(ciphertext) <= (
            self.chunk_size + TAG_SIZE
        ):
            raise TamperedError()
        nonce = _chunk_nonce(self._base_nonce, index)
        try:
            self._aead.decrypt_into(nonce, ciphertext, None, out)
        except (InvalidTag, ValueError) as error:
            raise TamperedError() from error


def iter_plaintext_chunks(buffers: Sequence[Buffer], chunk_size: int) -> Iterator[memoryview]:
    """Yield the chunks of the concatenation of ``buffers`` without joining them.

    A chunk inside one buffer is a view into it; a chunk spanning buffers is
    assembled in one reused staging buffer, so consume each chunk before asking
    for the next. The last chunk is always shorter than ``chunk_size`` (maybe empty).
    """
    staging = bytearray()  # grown to one chunk only if a chunk spans buffers
    staged = 0
    for buffer in buffers:
        view = memoryview(buffer).cast("B")
        offset = 0
        if staged:
            take = min(chunk_size - staged, len(view))
            staging[staged : staged + take] = view[:take]
            staged += take
            offset = take
            if staged < chunk_size:
                continue
            yield memoryview(staging)
            staged = 0
        while len(view) - offset >= chunk_size:
            yield view[offset : offset + chunk_size]
            offset += chunk_size
        rest = len(view) - offset
        if rest and not staging:
            staging.extend(bytes(chunk_size))
        staging[:rest] = view[offset:]
        staged = rest
    yield memoryview(staging)[:staged]


def encrypt(
    input_key: bytes,
    plaintext: Buffer,
    *,
    context: bytes = b"",
    chunk_size: int = C2SP_CHUNK_SIZE,
    rng: Rng | None = None,
) -> bytes:
    """Encrypt a whole message (C2SP chunked encryption with the given chunk size).

    Args:
        input_key: 32 uniformly random bytes.
        plaintext: the message.
        context: application context bound into the key derivation.
        chunk_size: plaintext bytes per full chunk (16 KiB is C2SP exactly).
        rng: randomness for the salt; os.urandom when None.

    Returns:
        salt || commitment || encrypted chunks.
    """
    encryptor = ChunkEncryptor(input_key, context=context, chunk_size=chunk_size, rng=rng)
    out = bytearray(ciphertext_length(len(memoryview(plaintext)), chunk_size))
    out_view = memoryview(out)
    out_view[:PREFIX_SIZE] = encryptor.prefix
    position = PREFIX_SIZE
    for index, chunk in enumerate(iter_plaintext_chunks([plaintext], chunk_size)):
        end = position + len(chunk) + TAG_SIZE
        encryptor.encrypt_chunk_into(index, chunk, out_view[position:end])
        position = end
    return bytes(out)


def decrypt_into(
    input_key: bytes,
    ciphertext: Buffer,
    out: memoryview,
    *,
    context: bytes = b"",
    chunk_size: int = C2SP_CHUNK_SIZE,
) -> None:
    """Decrypt a whole message into ``out`` (exactly the plaintext length).

    Raises:
        TamperedError: any check fails (length, commitment, a chunk, the final chunk).
    """
    view = memoryview(ciphertext).cast("B")
    size = plaintext_length(len(view), chunk_size)
    if len(out) != size:
        raise ValueError("output buffer has the wrong length")
    decryptor = ChunkDecryptor(
        input_key, view[:PREFIX_SIZE], context=context, chunk_size=chunk_size
    )
    position = PREFIX_SIZE
    for index in range(chunk_count(size, chunk_size)):
        start = index * chunk_size
        length = min(chunk_size, size - start)
        end = position + length + TAG_SIZE
        decryptor.decrypt_chunk_into(index, view[position:end], out[start : start + length])
        position = end


def decrypt(
    input_key: bytes,
    ciphertext: Buffer,
    *,
    context: bytes = b"",
    chunk_size: int = C2SP_CHUNK_SIZE,
) -> bytes:
    """Decrypt and authenticate a whole message; nothing is returned unless all is valid.

    Args:
        input_key: the 32-byte input key.
        ciphertext: salt || commitment || chunks.
        context: the context used when encrypting.
        chunk_size: the chunk size used when encrypting.

    Returns:
        The plaintext.

    Raises:
        TamperedError: any check fails.
        ValueError: the input key is not 32 bytes.
    """
    size = plaintext_length(len(memoryview(ciphertext).cast("B")), chunk_size)
    out = bytearray(size)
    decrypt_into(input_key, ciphertext, memoryview(out), context=context, chunk_size=chunk_size)
    return bytes(out)
