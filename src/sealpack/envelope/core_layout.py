"""Fast readers for the core map and the stanzas as sealpack writes them.

Every core :func:`sealpack.envelope.header.encode_core` produces without metadata has
one layout: ``fixmap(8)``, the eight keys of section 3 in order as fixstr, ``sender``
and ``message_id`` as bin8 of 32 and 16 bytes, the four integers as positive fixint or
uint8..uint64, ``content_type`` as fixstr or str8, ``metadata`` as the empty fixmap.
Every stanza has one layout too: ``fixmap(7)``, the keys of section 4 in order,
``recipient``/``ek``/``wrapped_key`` as bin8, the prekey ids as uints (``opk`` and
``pqpk`` also nil), ``kem_ct`` as bin16 of 1088 bytes or nil.
:func:`read_core` and :func:`read_stanza` read exactly these layouts with one or two
precompiled regular expressions and return None for anything else (another encoding
of the same values, metadata, a value out of bounds, a byte too many or too few), so
the general path (the walker of envelope.sections or msgpack, then header_fields)
decides, and refuses, every other input exactly as before. What these readers
accept, the general path accepts with the same result (tests/envelope/
test_core_layout.py checks both on generated inputs and on every kind of mutation of
them); they never raise where it would not (issue 18: the general core walk cost
~10 us per open, this one ~3 us; a stanza ~3.3 us, here ~2.3 us).
"""

from __future__ import annotations

import re

from sealpack.envelope.header_fields import (
    MAX_CONTENT_TYPE,
    MAX_PREKEY_ID,
    MAX_TIME,
    Core,
    EnvelopeLimits,
    Stanza,
    check_payload_shape,
)

__all__ = ["read_core", "read_stanza"]

_UINT = rb"([\x00-\x7f]|\xcc.|\xcd..|\xce.{4}|\xcf.{8})"
"""A positive fixint or uint8..uint64 (the encodings msgpack picks for a non-negative int)."""
_OPTIONAL_UINT = rb"(\xc0|[\x00-\x7f]|\xcc.|\xcd..|\xce.{4}|\xcf.{8})"
_CORE_HEAD = re.compile(
    rb"\x88\xa6sender\xc4\x20(.{32})\xaamessage_id\xc4\x10(.{16})"
    rb"\xa7created" + _UINT + rb"\xa7expires" + _UINT + rb"\xaccontent_type([\xa0-\xbf]|\xd9.)",
    re.DOTALL,
)
_CORE_TAIL = re.compile(
    rb"\xa8metadata\x80\xa4size" + _UINT + rb"\xaachunk_size" + _UINT, re.DOTALL
)
_STANZA = re.compile(
    rb"\x87\xa9recipient\xc4\x10(.{16})\xa3spk"
    + _UINT
    + rb"\xa3opk"
    + _OPTIONAL_UINT
    + rb"\xa4pqpk"
    + _OPTIONAL_UINT
    + rb"\xa2ek\xc4\x20(.{32})"
    + rb"\xa6kem_ct(?:\xc0|\xc5\x04\x40(.{1088}))\xabwrapped_key\xc4\x30(.{48})",
    re.DOTALL,
)
_MAX_SIZE_FIELD = 2**63 - 1


def _uint(encoded: bytes) -> int:
    return encoded[0] if len(encoded) == 1 else int.from_bytes(encoded[1:], "big")


def _optional_uint(encoded: bytes) -> int | None:
    return None if encoded == b"\xc0" else _uint(encoded)


def read_stanza(raw: bytes) -> Stanza | None:
    """The Stanza of one encoded stanza in sealpack's own layout, or None for the walker.

    Args:
        raw: the exact bytes of one stanza (its directory length).

    Returns:
        The checked Stanza (the same header_fields.parse_stanza builds), or None when
        msgpack and parse_stanza must decide (and refuse, if it is malformed).
    """
    match = _STANZA.fullmatch(raw)
    if match is None:
        return None
    recipient, spk, opk, pqpk, ephemeral, kem_ct, wrapped = match.groups()
    ids = (_uint(spk), _optional_uint(opk), _optional_uint(pqpk))
    if max(i or 0 for i in ids) > MAX_PREKEY_ID or (ids[2] is None) != (kem_ct is None):
        return None
    return Stanza(recipient, *ids, ephemeral, kem_ct, wrapped)


def _core_fields(data: bytes) -> tuple[bytes, bytes, int, int, str, int, int] | None:
    head = _CORE_HEAD.match(data)
    if head is None:
        return None
    sender, message_id, created, expires, lead = head.groups()
    start = head.end()
    end = start + (lead[0] - 0xA0 if len(lead) == 1 else lead[1])
    tail = _CORE_TAIL.fullmatch(data, end)
    if tail is None:
        return None
    try:
        content_type = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    size, chunk = tail.groups()
    return (
        sender,
        message_id,
        _uint(created),
        _uint(expires),
        content_type,
        _uint(size),
        _uint(chunk),
    )


def read_core(core_bytes: bytes, limits: EnvelopeLimits) -> Core | None:
    """The Core of a core section in sealpack's own layout, or None for the walker.

    Args:
        core_bytes: the exact bytes of the core section.
        limits: parse limits (the payload-shape bounds apply as in parse_core).

    Returns:
        The checked Core, or None when the general walker must decide.

    Raises:
        LimitExceededError: chunk size or payload size out of the limits (the same
            check, in the same place, as the general path).
    """
    if limits.max_metadata_depth < 0 or limits.max_metadata_size < 1:
        return None  # limits so tight that even empty metadata is refused: the walker says how
    fields = _core_fields(core_bytes)
    if fields is None:
        return None
    sender, message_id, created, expires, content_type, size, chunk = fields
    if (
        len(content_type.encode()) > MAX_CONTENT_TYPE
        or not created <= expires <= MAX_TIME
        or size > _MAX_SIZE_FIELD
        or chunk > _MAX_SIZE_FIELD
    ):
        return None
    core = Core(sender, message_id, created, expires, content_type, {}, size, chunk)
    check_payload_shape(core, limits)
    return core
