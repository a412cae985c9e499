"""The envelope header: binary framing around two msgpack sections, parsed under limits.

Layout (all integers big endian; see docs/spec/envelope.md)::

    magic "SEALPACK" (8) | version 0x02 (1) | core_len u32 | core (msgpack map)
    | stanzas_len u32 | stanzas (directory of recipient key ids and stanza lengths,
    then one msgpack map per recipient: envelope.directory)

followed by the payload (chunked AES-256-GCM) and a 64-byte Ed25519 signature.
Parsing checks the core whole and the stanza section's directory; a recipient decodes
only its own stanza (:meth:`Header.stanza_for`).
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
from sealpack.envelope.core_layout import read_core
from sealpack.envelope.directory import (
    StanzaDirectory,
    frame_stanzas,
    read_directory,
    section_parts,
)
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
    "encode_stanza",
    "frame_stanzas",
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
_PREFIX = MAGIC + bytes([VERSION])


@dataclass(frozen=True)
class Header:
    """A parsed header and the exact bytes it came from.

    The core is checked whole; of the stanza section only the directory is checked
    until a stanza is asked for (:meth:`stanza_for`, or :attr:`stanzas` for all).
    """

    core: Core
    directory: StanzaDirectory = field(repr=False, compare=False)
    core_bytes: bytes = field(repr=False)
    header_view: memoryview = field(repr=False, compare=False)
    """The header's exact bytes: a view into the blob when it is immutable ``bytes``,
    else into a copy (so what the signature verified cannot change afterwards)."""

    @functools.cached_property
    def header_bytes(self) -> bytes:
        """The header's exact bytes as ``bytes`` (copied from the view on first use)."""
        view = self.header_view
        whole = view.obj
        if type(whole) is bytes and len(whole) == len(view):
            return whole
        return bytes(view)

    @property
    def header_length(self) -> int:
        """Where the payload starts."""
        return len(self.header_view)

    @property
    def total_length(self) -> int:
        """Exact length of the whole blob: header, payload and signature."""
        return len(self.header_view) + self.core.payload_length + SIGNATURE_SIZE

    @property
    def stanza_count(self) -> int:
        """How many recipients the header names (no stanza decoded)."""
        return self.directory.count

    def stanza_for(self, key_id: bytes) -> Stanza | None:
        """The stanza of ``key_id``, decoded and checked alone, or None (issue 18).

        Raises:
            TamperedError: that stanza is malformed.
        """
        return self.directory.stanza_for(key_id)

    @functools.cached_property
    def stanzas(self) -> tuple[Stanza, ...]:
        """Every stanza, decoded and checked (inspect; opening needs only its own).

        Raises:
            TamperedError: any stanza is malformed.
        """
        return self.directory.all()

    @functools.cached_property
    def stanza_index(self) -> dict[bytes, Stanza]:
        """Recipient key id -> its stanza, over every stanza (decodes them all)."""
        return {stanza.recipient_key_id: stanza for stanza in self.stanzas}


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


def _stanza_map(stanza: Stanza) -> dict[str, object]:
    return {
        "recipient": stanza.recipient_key_id,
        "spk": stanza.signed_prekey_id,
        "opk": stanza.one_time_prekey_id,
        "pqpk": stanza.pq_prekey_id,
        "ek": stanza.ephemeral_key,
        "kem_ct": stanza.kem_ciphertext,
        "wrapped_key": stanza.wrapped_key,
    }


def encode_stanza(stanza: Stanza) -> bytes:
    """One stanza as its msgpack map, keys in the fixed order (STANZA_KEYS)."""
    packed: bytes = msgpack.packb(_stanza_map(stanza), use_bin_type=True)
    return packed


def encode_header(core_bytes: bytes, stanzas: list[Stanza]) -> bytes:
    """Frame the encoded core and the stanzas (directory first) into the header bytes."""
    pack = msgpack.Packer(use_bin_type=True).pack  # one packer per call: thread-safe
    encoded = [pack(_stanza_map(s)) for s in stanzas]
    parts = section_parts([s.recipient_key_id for s in stanzas], encoded)
    return b"".join(
        (
            _PREFIX,
            _U32.pack(len(core_bytes)),
            core_bytes,
            _U32.pack(sum(map(len, parts))),
            *parts,
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
        The parsed header with the exact bytes it came from (the core checked, the
        stanza section's directory checked; stanzas are decoded when asked for).

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
    header = _stable(view, end)
    core_bytes = bytes(header[PREFIX_SIZE:core_end])
    core = read_core(core_bytes, limits) or parse_core(
        unpack_section(core_bytes, core_section_limits(limits)), limits
    )
    directory = read_directory(header[core_end + 4 :], limits.max_recipients)
    return Header(core, directory, core_bytes, header)


def _stable(view: memoryview, end: int) -> memoryview:
    """The first ``end`` bytes, as a view when they cannot change (immutable ``bytes``,
    no copy of a 1.26 MB header of 1000 stanzas), else as a view of a copy."""
    if view.readonly and type(view.obj) is bytes:
        return view[:end]
    return memoryview(bytes(view[:end]))
