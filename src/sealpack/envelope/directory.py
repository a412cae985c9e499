"""The stanza section of envelope format 2: a directory of recipients, then the stanzas.

Layout (docs/spec/envelope.md section 4)::

    n u32be | n recipient key ids (16 bytes each) | n stanza lengths (u32be each)
    | stanza 1 || ... || stanza n   (each a msgpack map of exactly its length)

A recipient finds its own stanza through the directory (``bytes.find`` over the key
ids, accepted only at a 16-byte boundary) and decodes only that one: the other
stanzas stay opaque bytes, which the signature still covers (through the BLAKE3 digest
of the whole section, envelope.suite). The structural checks of the directory (count,
lengths, distinct ids) run at C speed, so a header of 1000 stanzas costs a recipient
about what a header of one does (issue 18).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from sealpack import errors
from sealpack.envelope.core_layout import read_stanza
from sealpack.envelope.header_fields import (
    KEM_CIPHERTEXT_SIZE,
    KEY_ID_SIZE,
    STANZA_KEYS,
    Stanza,
    parse_stanza,
)

__all__ = [
    "MAX_STANZA_SIZE",
    "StanzaDirectory",
    "frame_stanzas",
    "read_directory",
    "section_parts",
]

MAX_STANZA_SIZE = 2048
"""Most bytes one encoded stanza may take (a hybrid stanza takes about 1.25 KB)."""
_COUNT = struct.Struct(">I")
_SMALL_SET = 32
"""Up to this many stanzas, lengths and ids are checked in Python; above, with numpy."""
Lengths = tuple[int, ...] | npt.NDArray[np.uint32]


def section_parts(ids: Sequence[bytes], encoded: Sequence[bytes]) -> list[bytes]:
    """The pieces of the stanza section in order (``b"".join`` of them is the section);
    the sealer joins them straight into the header. Nothing is checked here."""
    count = len(encoded)
    return [_COUNT.pack(count), *ids, struct.pack(f">{count}I", *map(len, encoded)), *encoded]


def frame_stanzas(ids: Sequence[bytes], encoded: Sequence[bytes]) -> bytes:
    """The stanza section: count, key ids, lengths, then the encoded stanzas in order.

    Args:
        ids: the 16-byte key id of each stanza's recipient, in stanza order.
        encoded: each stanza's msgpack map, in the same order.

    Returns:
        The section bytes (what ``stanzas_len`` counts).

    Raises:
        ValueError: the two sequences differ in length, or an id is not 16 bytes.
    """
    if len(ids) != len(encoded) or (ids and set(map(len, ids)) != {KEY_ID_SIZE}):
        raise ValueError("one 16-byte key id per encoded stanza")
    return b"".join(section_parts(ids, encoded))


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("extension types are not allowed in a sealpack header")


def _decode_stanza(raw: bytes) -> Any:
    """msgpack of one stanza: at most MAX_STANZA_SIZE bytes, so msgpack's own limits
    bound everything (maps of at most 7 pairs, no arrays, no extension types)."""
    try:
        return msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            ext_hook=_no_ext,
            max_str_len=MAX_STANZA_SIZE,
            max_bin_len=KEM_CIPHERTEXT_SIZE,
            max_array_len=0,
            max_map_len=len(STANZA_KEYS),
            max_ext_len=0,
        )
    except Exception as error:  # msgpack raises many types; all mean "malformed"
        raise errors.TamperedError() from error


def _distinct(ids: bytes, count: int) -> bool:
    """No key id twice. Large directories sort the ids' first 8 bytes with numpy and
    compare all 16 bytes only if two of those prefixes are equal (never, for real ids)."""
    if count > _SMALL_SET:
        prefixes = np.sort(np.frombuffer(ids, dtype=np.uint64)[::2])
        if not (prefixes[1:] == prefixes[:-1]).any():
            return True
    return len({ids[i : i + KEY_ID_SIZE] for i in range(0, len(ids), KEY_ID_SIZE)}) == count


class StanzaDirectory:
    """A checked stanza section: look a recipient up, decode one stanza or all of them."""

    __slots__ = ("_bodies", "_ids", "_lengths", "_parsed")

    def __init__(self, ids: bytes, lengths: Lengths, bodies: memoryview) -> None:
        self._ids, self._lengths, self._bodies = ids, lengths, bodies
        self._parsed: dict[int, Stanza] = {}

    @property
    def count(self) -> int:
        """How many stanzas the section holds."""
        return len(self._lengths)

    def index_of(self, key_id: bytes) -> int | None:
        """The index of ``key_id``'s stanza, or None (matches inside two ids do not count)."""
        ids = self._ids
        at = ids.find(key_id) if len(key_id) == KEY_ID_SIZE else -1
        while at > 0 and at % KEY_ID_SIZE:
            at = ids.find(key_id, at + 1)
        return None if at < 0 else at // KEY_ID_SIZE

    def stanza(self, index: int) -> Stanza:
        """Decode and strictly check stanza ``index`` (its ``recipient`` must match the id).

        Raises:
            TamperedError: malformed stanza, or its recipient differs from the directory.
        """
        found = self._parsed.get(index)
        if found is not None:
            return found
        head = self._lengths[:index]
        return self._decode(index, int(head.sum()) if isinstance(head, np.ndarray) else sum(head))

    def _decode(self, index: int, start: int) -> Stanza:
        raw = bytes(self._bodies[start : start + int(self._lengths[index])])
        stanza = read_stanza(raw) or parse_stanza(_decode_stanza(raw))  # fast path first
        if stanza.recipient_key_id != self._ids[index * KEY_ID_SIZE : (index + 1) * KEY_ID_SIZE]:
            raise errors.TamperedError()
        self._parsed[index] = stanza
        return stanza

    def stanza_for(self, key_id: bytes) -> Stanza | None:
        """The stanza of ``key_id`` (decoded, checked), or None when there is none."""
        index = self.index_of(key_id)
        return None if index is None else self.stanza(index)

    def all(self) -> tuple[Stanza, ...]:
        """Every stanza, decoded and checked (inspect; a recipient needs only its own).

        Raises:
            TamperedError: any stanza is malformed.
        """
        starts = accumulate(map(int, self._lengths), initial=0)
        return tuple(
            self._parsed.get(index) or self._decode(index, start)
            for index, start in zip(range(self.count), starts, strict=False)
        )


def _checked_lengths(view: memoryview, at: int, count: int) -> Lengths:
    """The stanza lengths at ``at``: each in 1..MAX_STANZA_SIZE, adding up to the rest.

    Raises:
        TamperedError: a length out of range, or a sum other than the bytes left.
    """
    lengths: Lengths
    if count == 1:  # one recipient (issue 18): no format string, no min/max/sum
        lengths = _COUNT.unpack_from(view, at)
        low = high = total = lengths[0]
    elif count <= _SMALL_SET:
        lengths = struct.unpack_from(f">{count}I", view, at)
        low, high, total = min(lengths), max(lengths), sum(lengths)
    else:
        lengths = np.frombuffer(view, dtype=">u4", count=count, offset=at)
        low, high = int(lengths.min()), int(lengths.max())
        total = int(lengths.sum(dtype=np.uint64))
    if low < 1 or high > MAX_STANZA_SIZE or total != len(view) - at - 4 * count:
        raise errors.TamperedError()
    return lengths


def read_directory(section: bytes | memoryview, max_recipients: int) -> StanzaDirectory:
    """Check the structure of a stanza section (no stanza is decoded).

    Args:
        section: the exact bytes of the stanza section.
        max_recipients: the most stanzas accepted.

    Returns:
        The directory over ``section`` (kept as a view, not copied).

    Raises:
        TamperedError: truncated, no stanza, a length out of range or not adding up to
            the section, or two equal key ids.
        LimitExceededError: more stanzas than ``max_recipients``.
    """
    view = memoryview(section).cast("B")
    if len(view) < _COUNT.size:
        raise errors.TamperedError()
    count = _COUNT.unpack_from(view)[0]
    if count > max_recipients:
        raise errors.LimitExceededError(f"sealed blob names more than {max_recipients} recipients")
    ids_end = _COUNT.size + KEY_ID_SIZE * count
    table_end = ids_end + 4 * count
    if count == 0 or table_end > len(view):
        raise errors.TamperedError()
    lengths = _checked_lengths(view, ids_end, count)
    ids = bytes(view[_COUNT.size : ids_end])
    if count > 1 and not _distinct(ids, count):
        raise errors.TamperedError()
    return StanzaDirectory(ids, lengths, view[table_end:])
