"""Helpers shared by the codec tests: deep type-exact equality and raw frames."""

from __future__ import annotations

import argparse
import struct
from collections import OrderedDict
from typing import Any

import msgpack
import numpy as np

from sealpack.serialization.frame import build_frame
from sealpack.serialization.wire import PACK_OPTIONS


def assert_same(left: Any, right: Any) -> None:
    """Assert equal values of identical types, recursively (arrays byte-exact)."""
    assert type(left) is type(right), (type(left), type(right))
    if isinstance(left, np.ndarray):
        assert left.dtype == right.dtype and left.shape == right.shape
        if left.dtype.names is not None:  # compare fields: padding bytes are unspecified
            for name in left.dtype.names:
                assert_same(np.ascontiguousarray(left[name]), np.ascontiguousarray(right[name]))
        else:
            assert np.ascontiguousarray(left).tobytes() == np.ascontiguousarray(right).tobytes()
        if left.flags.f_contiguous and not left.flags.c_contiguous:
            assert right.flags.f_contiguous
    elif isinstance(left, np.generic):
        assert left.dtype == right.dtype and left.tobytes() == right.tobytes()
    elif isinstance(left, (list, tuple)):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_same(a, b)
    elif isinstance(left, (dict, OrderedDict)):
        assert list(left.keys()) == list(right.keys())
        for key in left:
            assert_same(left[key], right[key])
    elif isinstance(left, argparse.Namespace):
        assert_same(vars(left), vars(right))
    elif isinstance(left, float):
        assert struct.pack("<d", left) == struct.pack("<d", right)  # exact, NaN-safe
    elif isinstance(left, complex):
        assert struct.pack("<dd", left.real, left.imag) == struct.pack(
            "<dd", right.real, right.imag
        )
    elif isinstance(left, memoryview):
        assert left.tobytes() == right.tobytes()
    else:
        assert left == right


def pack(value: Any) -> bytes:
    """msgpack-encode a (hand-built) value the way the codec does."""
    return msgpack.packb(value, **PACK_OPTIONS)


def ext(code: int, payload: Any, raw: bool = False) -> msgpack.ExtType:
    """An ext value with a nested msgpack payload (or raw bytes)."""
    return msgpack.ExtType(code, payload if raw else pack(payload))


def raw_frame(root: Any, types: list[str] | None = None, buffers: list[bytes] = ()) -> bytes:
    """Build a frame around a hand-made root value, type table and buffers."""
    views = [memoryview(buffer) for buffer in buffers]
    return b"".join(build_frame(pack(types or []), pack(root), views))


def raw_body_frame(body: bytes, types: bytes | None = None) -> bytes:
    """Build a frame around raw (possibly malformed) msgpack body bytes."""
    return b"".join(build_frame(types if types is not None else pack([]), body, []))
