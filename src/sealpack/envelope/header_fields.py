"""The header's fields: their sizes and bounds, and their checks after msgpack decoding.

:mod:`sealpack.envelope.header` frames the two sections; this module says what a valid
core map and one stanza map hold (see docs/spec/envelope.md). Every malformed field is
a TamperedError; a field over a limit is a LimitExceededError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealpack import errors
from sealpack.envelope import stream
from sealpack.envelope.metadata import check_metadata
from sealpack.envelope.sections import SectionLimits

__all__ = [
    "CORE_KEYS",
    "STANZA_KEYS",
    "Core",
    "EnvelopeLimits",
    "Stanza",
    "check_metadata",
    "check_payload_shape",
    "core_section_limits",
    "parse_core",
    "parse_stanza",
]

KEY_ID_SIZE = 16
MESSAGE_ID_SIZE = 16
PUBLIC_KEY_SIZE = 32
WRAPPED_KEY_SIZE = 32 + 16
KEM_CIPHERTEXT_SIZE = 1088
"""An ML-KEM-768 ciphertext."""
MAX_PREKEY_ID = 2**32 - 1
MAX_TIME = 2**40 - 1
"""Upper bound of ``created`` and ``expires`` (year 36812): ``expires + clock skew +
retention slack`` still fits a signed 64-bit SQLite integer by a wide margin."""
MAX_SIZE_FIELD = 2**63 - 1
"""Bound of ``size`` and ``chunk_size`` before the limits (which are far lower) apply."""
MAX_CONTENT_TYPE = 255
CORE_KEYS = (
    "sender",
    "message_id",
    "created",
    "expires",
    "content_type",
    "metadata",
    "size",
    "chunk_size",
)
STANZA_KEYS = ("recipient", "spk", "opk", "pqpk", "ek", "kem_ct", "wrapped_key")


@dataclass(frozen=True)
class EnvelopeLimits:
    """Bounds applied while parsing a header, before anything is verified."""

    max_header_size: int = 1 << 23
    """Both sections together: 4096 hybrid stanzas (~1.26 KB each) plus 64 KiB metadata fit."""
    max_recipients: int = 4096
    max_metadata_size: int = 64 * 1024
    max_metadata_depth: int = 32
    max_payload_size: int = 1 << 40
    min_chunk_size: int = 1 << 10
    max_chunk_size: int = 1 << 24


@dataclass(frozen=True)
class Stanza:
    """One recipient's entry: who, which prekeys, the ephemeral key, the KEM ciphertext
    (hybrid stanzas only) and the wrapped content key."""

    recipient_key_id: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None
    pq_prekey_id: int | None
    ephemeral_key: bytes
    kem_ciphertext: bytes | None = field(repr=False)
    wrapped_key: bytes = field(repr=False)

    @property
    def hybrid(self) -> bool:
        """True for a PQXDH stanza (X25519 + ML-KEM-768), False for classical X3DH."""
        return self.pq_prekey_id is not None


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


def _tampered() -> errors.TamperedError:
    return errors.TamperedError()


def core_section_limits(limits: EnvelopeLimits) -> SectionLimits:
    """The core map holds the metadata map; check_metadata applies its exact bounds later."""
    return SectionLimits(
        max_depth=limits.max_metadata_depth + 2,
        max_length=max(limits.max_metadata_size, len(CORE_KEYS)),
        max_items=limits.max_metadata_size + 2 * len(CORE_KEYS),
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


def _optional_bin(value: Any, size: int) -> bytes | None:
    return None if value is None else _bin(value, size)


def parse_core(value: Any, limits: EnvelopeLimits) -> Core:
    sender, message_id, created, expires, content_type, metadata, size, chunk_size = _fields(
        value, CORE_KEYS
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
        _int(size, MAX_SIZE_FIELD),
        _int(chunk_size, MAX_SIZE_FIELD),
    )
    if core.expires < core.created:
        raise _tampered()
    check_payload_shape(core, limits)
    return core


def check_payload_shape(core: Core, limits: EnvelopeLimits) -> None:
    """Chunk size a power of two within the limits, payload size and chunk count bounded.

    Raises:
        LimitExceededError: any of them out of bounds.
    """
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


def parse_stanza(item: Any) -> Stanza:
    """Check one decoded stanza map (keys, order, types, sizes) and build the Stanza.

    Raises:
        TamperedError: anything but exactly the section-4 fields with valid values.
    """
    kid, spk, opk, pqpk, ek, kem_ct, wrapped = _fields(item, STANZA_KEYS)
    stanza = Stanza(
        _bin(kid, KEY_ID_SIZE),
        _int(spk, MAX_PREKEY_ID),
        _int(opk, MAX_PREKEY_ID, optional=True),
        _int(pqpk, MAX_PREKEY_ID, optional=True),
        _bin(ek, PUBLIC_KEY_SIZE),
        _optional_bin(kem_ct, KEM_CIPHERTEXT_SIZE),
        _bin(wrapped, WRAPPED_KEY_SIZE),
    )
    if (stanza.pq_prekey_id is None) != (stanza.kem_ciphertext is None):
        raise _tampered()  # kem_ct is nil exactly when pqpk is nil
    return stanza
