"""The envelope header: binary framing around two msgpack sections, parsed under limits.

Layout (all integers big endian; see docs/spec/envelope.md)::

    magic "SEALPACK" (8) | version 0x01 (1) | core_len u32 | core (msgpack map)
    | stanzas_len u32 | stanzas (msgpack array of maps)

followed by the payload (chunked AES-256-GCM) and a 64-byte Ed25519 signature.
Version 1 has exactly one suite: X3DH (X25519, Ed25519, HKDF-SHA256), AES-256-GCM
key wrap, C2SP chunked AES-256-GCM payload, SHA-256 payload digest, Ed25519 signature.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack

from sealpack import errors
from sealpack.envelope import stream
from sealpack.envelope.metadata import check_metadata
from sealpack.envelope.sections import SectionLimits, unpack_section

__all__ = [
    "MAGIC",
    "SIGNATURE_SIZE",
    "VERSION",
    "Core",
    "EnvelopeLimits",
    "Header",
    "Stanza",
    "check_metadata",
    "encode_core",
    "encode_header",
    "parse_header",
    "prefix_lengths",
]

MAGIC = b"SEALPACK"
VERSION = 1
PREFIX_SIZE = len(MAGIC) + 1 + 4
SIGNATURE_SIZE = 64
KEY_ID_SIZE = 16
MESSAGE_ID_SIZE = 16
PUBLIC_KEY_SIZE = 32
WRAPPED_KEY_SIZE = 32 + 16
MAX_PREKEY_ID = 2**32 - 1
MAX_TIME = 2**63 - 1
MAX_CONTENT_TYPE = 255
_CORE_KEYS = (
    "sender",
    "message_id",
    "created",
    "expires",
    "content_type",
    "metadata",
    "size",
    "chunk_size",
)
_STANZA_KEYS = ("recipient", "spk", "opk", "ek", "wrapped_key")
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class EnvelopeLimits:
    """Bounds applied while parsing a header, before anything is verified."""

    max_header_size: int = 1 << 20
    max_recipients: int = 4096
    max_metadata_size: int = 64 * 1024
    max_metadata_depth: int = 32
    max_payload_size: int = 1 << 40
    min_chunk_size: int = 1 << 10
    max_chunk_size: int = 1 << 24


@dataclass(frozen=True)
class Stanza:
    """One recipient's entry: who, which prekeys, the ephemeral key, the wrapped content key."""

    recipient_key_id: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None
    ephemeral_key: bytes
    wrapped_key: bytes = field(repr=False)


@dataclass(frozen=True)
class Core:
    """The header fields shared by all recipients (everything but the stanzas)."""

    sender_key: bytes
    message_id: bytes
    created: int
    expires: int
    content_type: str
    metadata: Mapping[str, Any]
    size: int
    chunk_size: int

    @property
    def payload_length(self) -> int:
        """Exact length of the encrypted payload in bytes."""
        return stream.ciphertext_length(self.size, self.chunk_size)


@dataclass(frozen=True)
class Header:
    """A parsed header and the exact bytes it came from (what the signature covers)."""

    core: Core
    stanzas: tuple[Stanza, ...]
    core_bytes: bytes = field(repr=False)
    header_bytes: bytes = field(repr=False)

    @property
    def total_length(self) -> int:
        """Exact length of the whole blob: header, payload and signature."""
        return len(self.header_bytes) + self.core.payload_length + SIGNATURE_SIZE


def _tampered() -> errors.TamperedError:
    return errors.TamperedError()


def encode_core(core: Core) -> bytes:
    """Encode the core fields as a msgpack map in the fixed key order."""
    values = (
        core.sender_key,
        core.message_id,
        core.created,
        core.expires,
        core.content_type,
        dict(core.metadata),
        core.size,
        core.chunk_size,
    )
    packed: bytes = msgpack.packb(dict(zip(_CORE_KEYS, values, strict=True)), use_bin_type=True)
    return packed


def encode_header(core_bytes: bytes, stanzas: list[Stanza]) -> bytes:
    """Frame the encoded core and the stanzas into the header bytes."""
    records = [
        dict(
            zip(
                _STANZA_KEYS,
                (
                    s.recipient_key_id,
                    s.signed_prekey_id,
                    s.one_time_prekey_id,
                    s.ephemeral_key,
                    s.wrapped_key,
                ),
                strict=True,
            )
        )
        for s in stanzas
    ]
    stanza_bytes: bytes = msgpack.packb(records, use_bin_type=True)
    return b"".join(
        (
            MAGIC,
            bytes([VERSION]),
            _U32.pack(len(core_bytes)),
            core_bytes,
            _U32.pack(len(stanza_bytes)),
            stanza_bytes,
        )
    )


def prefix_lengths(prefix: bytes, limits: EnvelopeLimits) -> int:
    """Check magic and version of the first 13 bytes and return the core length.

    Raises:
        TamperedError: not a sealpack blob (short or wrong magic).
        UnsupportedVersionError: a version other than 1.
        LimitExceededError: the claimed core length exceeds the header limit.
    """
    if len(prefix) < PREFIX_SIZE or prefix[: len(MAGIC)] != MAGIC:
        raise _tampered()
    if prefix[len(MAGIC)] != VERSION:
        raise errors.UnsupportedVersionError(
            f"sealed blob format version {prefix[len(MAGIC)]} is not supported (only {VERSION})"
        )
    return _check_section_length(_U32.unpack_from(prefix, len(MAGIC) + 1)[0], limits)


def _check_section_length(length: int, limits: EnvelopeLimits) -> int:
    if length > limits.max_header_size:
        raise errors.LimitExceededError(
            f"sealed blob header exceeds the limit of {limits.max_header_size} bytes"
        )
    return length


def stanzas_length(data: bytes | memoryview, offset: int, limits: EnvelopeLimits) -> int:
    """Read the u32 stanza-section length at ``offset`` (checked against the limit)."""
    if len(data) < offset + 4:
        raise _tampered()
    return _check_section_length(_U32.unpack_from(data, offset)[0], limits)


def parse_header(data: bytes | memoryview, limits: EnvelopeLimits) -> Header:
    """Parse the header at the start of ``data`` (which may continue with the payload).

    Args:
        data: the blob, or at least its header.
        limits: parse limits.

    Returns:
        The parsed header with the exact bytes it came from.

    Raises:
        TamperedError: malformed header.
        UnsupportedVersionError: unknown version.
        LimitExceededError: a section, count, size or the metadata exceeds a limit.
    """
    view = memoryview(data).cast("B")
    core_len = prefix_lengths(bytes(view[:PREFIX_SIZE]), limits)
    core_end = PREFIX_SIZE + core_len
    if len(view) < core_end:
        raise _tampered()
    stanza_len = stanzas_length(view, core_end, limits)
    end = core_end + 4 + stanza_len
    if core_len + stanza_len > limits.max_header_size:
        raise errors.LimitExceededError(
            f"sealed blob header exceeds the limit of {limits.max_header_size} bytes"
        )
    if len(view) < end:
        raise _tampered()
    core_bytes = bytes(view[PREFIX_SIZE:core_end])
    core = _parse_core(unpack_section(core_bytes, _core_limits(limits)), limits)
    stanza_bytes = bytes(view[core_end + 4 : end])
    stanzas = _parse_stanzas(unpack_section(stanza_bytes, _stanza_limits(limits)), limits)
    return Header(core, stanzas, core_bytes, bytes(view[:end]))


def _core_limits(limits: EnvelopeLimits) -> SectionLimits:
    """The core map holds the metadata map; check_metadata applies its exact bounds later."""
    return SectionLimits(
        max_depth=limits.max_metadata_depth + 2,
        max_length=max(limits.max_metadata_size, len(_CORE_KEYS)),
        max_items=limits.max_metadata_size + 2 * len(_CORE_KEYS),
    )


def _stanza_limits(limits: EnvelopeLimits) -> SectionLimits:
    """An array of at most max_recipients maps of five scalars."""
    return SectionLimits(
        max_depth=2,
        max_length=max(limits.max_recipients, len(_STANZA_KEYS)),
        max_items=(len(_STANZA_KEYS) + 1) * limits.max_recipients,
    )


def _fields(value: Any, keys: tuple[str, ...]) -> list[Any]:
    if not isinstance(value, dict) or tuple(value) != keys:
        raise _tampered()
    return [value[key] for key in keys]


def _bin(value: Any, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise _tampered()
    return value


def _int(value: Any, maximum: int, *, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise _tampered()
    return value


def _parse_core(value: Any, limits: EnvelopeLimits) -> Core:
    sender, message_id, created, expires, content_type, metadata, size, chunk_size = _fields(
        value, _CORE_KEYS
    )
    if not isinstance(content_type, str) or len(content_type.encode()) > MAX_CONTENT_TYPE:
        raise _tampered()
    if not isinstance(metadata, dict):
        raise _tampered()
    try:
        check_metadata(metadata, limits)
    except errors.SerializationTypeError as error:
        raise _tampered() from error
    core = Core(
        _bin(sender, PUBLIC_KEY_SIZE),
        _bin(message_id, MESSAGE_ID_SIZE),
        _int(created, MAX_TIME),
        _int(expires, MAX_TIME),
        content_type,
        metadata,
        _int(size, MAX_TIME),
        _int(chunk_size, MAX_TIME),
    )
    if core.expires < core.created:
        raise _tampered()
    _check_payload_shape(core, limits)
    return core


def _check_payload_shape(core: Core, limits: EnvelopeLimits) -> None:
    chunk = core.chunk_size
    if chunk & (chunk - 1) or not limits.min_chunk_size <= chunk <= limits.max_chunk_size:
        raise errors.LimitExceededError(
            f"chunk size must be a power of two in [{limits.min_chunk_size}, "
            f"{limits.max_chunk_size}]"
        )
    if core.size > limits.max_payload_size:
        raise errors.LimitExceededError(
            f"payload of {core.size} bytes exceeds the limit of {limits.max_payload_size}"
        )
    if stream.chunk_count(core.size, chunk) > stream.MAX_CHUNKS:
        raise errors.LimitExceededError("payload has too many chunks")


def _parse_stanzas(value: Any, limits: EnvelopeLimits) -> tuple[Stanza, ...]:
    if not isinstance(value, list) or not value:
        raise _tampered()
    if len(value) > limits.max_recipients:
        raise errors.LimitExceededError(
            f"sealed blob names more than {limits.max_recipients} recipients"
        )
    stanzas = []
    for item in value:
        kid, spk, opk, ek, wrapped = _fields(item, _STANZA_KEYS)
        stanzas.append(
            Stanza(
                _bin(kid, KEY_ID_SIZE),
                _int(spk, MAX_PREKEY_ID),
                _int(opk, MAX_PREKEY_ID, optional=True),
                _bin(ek, PUBLIC_KEY_SIZE),
                _bin(wrapped, WRAPPED_KEY_SIZE),
            )
        )
    if len({s.recipient_key_id for s in stanzas}) != len(stanzas):
        raise _tampered()
    return tuple(stanzas)
