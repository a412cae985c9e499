"""Ext values that msgpack has seen but the decoder has not built yet."""

from __future__ import annotations

from typing import Any

__all__ = ["UNPARSED", "Pending"]

UNPARSED: Any = object()
"""``Pending.payload`` before the payload is parsed."""


class Pending:
    """An ext value seen by msgpack, decoded later once its depth is known.

    ``payload`` caches the parsed (unresolved) msgpack payload of a non-raw ext, so a
    typed check (serialization/expect.py) and the build parse each payload once.
    """

    __slots__ = ("code", "data", "payload")

    def __init__(self, code: int, data: bytes) -> None:
        self.code = code
        self.data = data
        self.payload = UNPARSED
