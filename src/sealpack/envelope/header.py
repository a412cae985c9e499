"""The envelope header: binary framing around two msgpack sections, parsed under limits.

Layout (all integers big endian; see docs/spec/envelope.md)::

    magic "SEALPACK" (8) | version 0x02 (1) | core_len u32 | core (msgpack map)
    | stanzas_len u32 | stanzas (msgpack array of maps)

followed by the payload (chunked AES-256-GCM) and a 64-byte Ed25519 signature.
Version 2 has exactly one suite: PQXDH (X25519 + ML-KEM-768, HKDF-SHA256; classical
X3DH only for recipients without a PQ prekey), AES-256-GCM key wrap, C2SP chunked
AES-256-GCM payload, BLAKE3-256 payload digest, Ed25519 signature. Version 1 blobs
are refused (a clean cut at 0.x, docs/spec/format-v2.md).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field

import msgpack

from sealpack import errors
from sealpack.envelope.header_fields import (
    CORE_KEYS,
    KEM_CIPHERTEXT_SIZE,
    KEY_ID_SIZE,
    MAX_CONTENT_TYPE,
    MAX_PREKEY_ID,
    MAX_TIME,
    MESSAGE_ID_SIZE,
    PUBLIC_KEY_SIZE,
    STANZA_KEYS,
    WRAPPED_KEY_SIZE,
    Core,
    EnvelopeLimits,
    Stanza,
    check_metadata,
    core_section_limits,
    parse_core,
    parse_stanzas,
    stanza_section_limits,
)
from sealpack.envelope.sections import unpack_section

__all__ = [
    "KEM_CIPHERTEXT_SIZE",
    "KEY_ID_SIZE",
    "MAGIC",
    "MAX_CONTENT_TYPE",
    "MAX_PREKEY_ID",
    "MAX_TIME",
    "MESSAGE_ID_SIZE",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "VERSION",
    "WRAPPED_KEY_SIZE",
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
VERSION = 2
VERSION_1_REFUSAL = (
    "sealed blob: format version 1 (sealpack 0.1) is no longer read; ask the sender to upgrade"
)
PREFIX_SIZE = len(MAGIC) + 1 + 4
SIGNATURE_SIZE = 64
_CORE_KEYS = CORE_KEYS
_STANZA_KEYS = STANZA_KEYS
_U32 = struct.Struct(">I")


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

    @functools.cached_property
    def stanza_index(self) -> dict[bytes, Stanza]:
        """Recipient key id -> its (first) stanza: a look-up, not a scan (issue 18)."""
        index: dict[bytes, Stanza] = {}
        for stanza in self.stanzas:
            index.setdefault(stanza.recipient_key_id, stanza)
        return index


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
                    s.pq_prekey_id,
                    s.ephemeral_key,
                    s.kem_ciphertext,
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
        UnsupportedVersionError: a version other than 2 (version 1: a clean cut).
        LimitExceededError: the claimed core length exceeds the header limit.
    """
    if len(prefix) < PREFIX_SIZE or prefix[: len(MAGIC)] != MAGIC:
        raise errors.TamperedError()
    version = prefix[len(MAGIC)]
    if version == 1:
        raise errors.UnsupportedVersionError(VERSION_1_REFUSAL)
    if version != VERSION:
        raise errors.UnsupportedVersionError(
            f"sealed blob format version {version} is not supported (only {VERSION})"
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
        raise errors.TamperedError()
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
        raise errors.TamperedError()
    stanza_len = stanzas_length(view, core_end, limits)
    end = core_end + 4 + stanza_len
    _check_section_length(core_len + stanza_len, limits)  # both sections together
    if len(view) < end:
        raise errors.TamperedError()
    core_bytes = bytes(view[PREFIX_SIZE:core_end])
    core = parse_core(unpack_section(core_bytes, core_section_limits(limits)), limits)
    stanza_bytes = bytes(view[core_end + 4 : end])
    stanzas = parse_stanzas(unpack_section(stanza_bytes, stanza_section_limits(limits)), limits)
    return Header(core, stanzas, core_bytes, bytes(view[:end]))
