"""Hypothesis strategies that mutate real samples byte-wise (format-agnostic part).

Field-aware mutations live next to each format's campaign; these are the generic
ones: bit flips, byte overwrites, deletions, insertions, duplicated and swapped
ranges, truncation, trailing data and "interesting" integers written in place.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

INTERESTING_INTS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**63, 2**64 - 1)
"""Values hostile lengths and counts take (0, 2^32-1, 2^63, ...)."""


def _encodings(value: int) -> list[bytes]:
    out = []
    for fmt in (">I", "<I", ">Q", "<Q"):
        try:
            out.append(struct.pack(fmt, value))
        except struct.error:
            continue
    return out


INTERESTING_BYTES = sorted({b for v in INTERESTING_INTS for b in _encodings(v)})


@st.composite
def _one_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    size = len(data)
    if size == 0:
        return draw(st.binary(min_size=1, max_size=8))
    kind = draw(
        st.sampled_from(
            ["flip", "set", "delete", "insert", "duplicate", "swap", "truncate", "append", "int"]
        )
    )
    at = draw(st.integers(0, size - 1))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "set":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind == "int":
        value = draw(st.sampled_from(INTERESTING_BYTES))
        return data[:at] + value + data[at + len(value) :]
    length = draw(st.integers(1, max(1, min(64, size - at))))
    if kind == "delete":
        return data[:at] + data[at + length :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "duplicate":
        return data[: at + length] + data[at : at + length] + data[at + length :]
    if kind == "swap":
        other = draw(st.integers(0, size - 1))
        first, second = sorted((at, other))
        length = min(length, max(0, second - first))
        if length == 0:
            return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        a, b = data[first : first + length], data[second : second + length]
        middle = data[first + length : second]
        return data[:first] + b + middle + a + data[second + len(b) :]
    if kind == "truncate":
        return data[:at]
    return data + draw(st.binary(min_size=1, max_size=64))


@st.composite
def mutants(draw: st.DrawFn, samples: list[bytes], max_mutations: int = 3) -> bytes:
    """Draw a sample and apply 1..max_mutations generic mutations; never the original."""
    original = draw(st.sampled_from(samples))
    data = original
    for _ in range(draw(st.integers(1, max_mutations))):
        data = draw(_one_mutation(data))
    if data == original:
        data = original + b"\x00"
    return data
