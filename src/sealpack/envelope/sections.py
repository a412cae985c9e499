"""Bounded msgpack reading of the header's core section, before anything is authenticated.

(The stanza section is a directory of fixed-size entries plus stanzas of at most 2048
bytes each, checked by envelope.directory; only the core nests, in its metadata.)

``msgpack.unpackb`` pre-sizes every array it meets (up to 10 000 slots) and nests up
to 1024 levels before it notices that the input ended, so ~5 KB of nested ``array32``
headers cost ~80 MiB; its ``max_*_len`` limits do not help when each claim is under
them. Here msgpack's ``Unpacker`` reads one container header at a time
(``read_map_header`` / ``read_array_header``) and the containers are built by
appending, under a depth limit, a per-container length limit, a total item budget and
claims bounded by the bytes left; ``Unpacker.unpack`` only ever decodes scalars (its
array and map limits are 0), with string/binary limits and buffer sized to the
section. Memory stays O(section size), time linear in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from sealpack import errors

__all__ = ["SectionLimits", "unpack_section"]

_MAP_LEADS = frozenset({*range(0x80, 0x90), 0xDE, 0xDF})
_ARRAY_LEADS = frozenset({*range(0x90, 0xA0), 0xDC, 0xDD})


@dataclass(frozen=True)
class SectionLimits:
    """Structural bounds of one header section.

    Attributes:
        max_depth: most nested containers (the section's top container is depth 1).
        max_length: most elements (or pairs) one container may claim.
        max_items: most elements plus pairs in the whole section.
    """

    max_depth: int
    max_length: int
    max_items: int


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("extension types are not allowed in a sealpack header")


class _Reader:
    """One pass over one section; every container is checked before it is walked."""

    def __init__(self, section: bytes, limits: SectionLimits) -> None:
        size = max(len(section), 1)
        self._data = section
        self._limits = limits
        self._items = 0
        self._unpacker = msgpack.Unpacker(
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_no_ext,
            max_buffer_size=size,
            max_str_len=size,
            max_bin_len=size,
            max_ext_len=0,
            max_array_len=0,
            max_map_len=0,
        )
        self._unpacker.feed(section)

    def read_all(self) -> Any:
        value = self._value(0)
        if self._unpacker.tell() != len(self._data):
            raise errors.TamperedError()
        return value

    def _value(self, depth: int) -> Any:
        lead = self._data[self._unpacker.tell()]
        if lead in _MAP_LEADS:
            return self._map(depth + 1)
        if lead in _ARRAY_LEADS:
            return self._array(depth + 1)
        return self._unpacker.unpack()

    def _claim(self, count: int, depth: int, width: int) -> None:
        limits = self._limits
        if depth > limits.max_depth:
            raise errors.LimitExceededError(
                f"sealed blob header nests deeper than {limits.max_depth} levels"
            )
        if count > limits.max_length:
            raise errors.LimitExceededError(
                f"a sealed blob header container claims {count} elements "
                f"(limit {limits.max_length})"
            )
        self._items += count
        if self._items > limits.max_items:
            raise errors.LimitExceededError(
                f"sealed blob header holds more than {limits.max_items} items"
            )
        if count * width > len(self._data) - self._unpacker.tell():
            raise errors.TamperedError()  # claims more elements than bytes are left

    def _array(self, depth: int) -> list[Any]:
        count = self._unpacker.read_array_header()
        self._claim(count, depth, 1)
        return [self._value(depth) for _ in range(count)]

    def _map(self, depth: int) -> dict[str, Any]:
        count = self._unpacker.read_map_header()
        self._claim(count, depth, 2)
        result: dict[str, Any] = {}
        for _ in range(count):
            key = self._unpacker.unpack() if self._is_scalar() else None
            if type(key) is not str or key in result:
                raise errors.TamperedError()
            result[key] = self._value(depth)
        return result

    def _is_scalar(self) -> bool:
        lead = self._data[self._unpacker.tell()]
        return lead not in _MAP_LEADS and lead not in _ARRAY_LEADS


def unpack_section(section: bytes, limits: SectionLimits) -> Any:
    """Decode one msgpack section strictly and within ``limits``.

    Maps must have distinct ``str`` keys; extension types, trailing bytes and
    truncation are refused.

    Args:
        section: the exact bytes of the section.
        limits: its structural bounds.

    Returns:
        The decoded value (lists, str-keyed dicts and msgpack scalars).

    Raises:
        TamperedError: malformed msgpack.
        LimitExceededError: too deep, a container too long, or too many items.
    """
    try:
        return _Reader(section, limits).read_all()
    except errors.SealpackError:
        raise
    except RecursionError as error:
        raise errors.LimitExceededError("sealed blob header nests too deeply") from error
    except Exception as error:  # msgpack raises many types; all mean "malformed"
        raise errors.TamperedError() from error
