"""The decoder: rebuilds objects from a parsed frame, trusting nothing in it.

msgpack parses each section; small flat ext values (a tuple of plain values, a
datetime) are built at once in its ext hook (body_hook.py, eager.py), others are
deferred. A walk then checks depth, item counts and value types and decodes each
deferred ext at its known depth; a body with nothing deferred skips the walk when its
container count, size and bytes already prove the limits (docs/spec/codec.md section 7).
msgpack pre-sizes each array it starts, so unproven claims in a few KB of nested array
headers would cost tens of MiB: a section over 512 bytes is either proven first by a
skip pass (which builds nothing), or, up to 2 KiB, parsed with array lengths capped so
that the pre-sizing stays within 2 MiB (unpacking.py); the limits never exceed what
the input can back.
Types named by the frame are looked up only in the receiver's registry;
nothing is imported. Arrays over out-of-band buffers are views into the
input (writable exactly when the input is writable).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgpack

from sealpack.errors import DecodeError, LimitExceededError, SealpackError
from sealpack.serialization import body_hook, eager
from sealpack.serialization.body_hook import may_hold_timestamp
from sealpack.serialization.frame import Frame
from sealpack.serialization.frame_access import FrameAccess
from sealpack.serialization.handlers import BY_CODE
from sealpack.serialization.hashguard import check_hash_spread
from sealpack.serialization.limits import DecodeLimits, check_limit
from sealpack.serialization.pending import UNPARSED, Pending
from sealpack.serialization.registry import Registry
from sealpack.serialization.small_parse import parse_small
from sealpack.serialization.stack import needed_recursion_limit, stack_headroom
from sealpack.serialization.unpacking import UNPROVEN_SECTION, check_complete, unpack_options
from sealpack.serialization.wire import RAW_EXTS, Ext

__all__ = ["Decoder"]

_SMALL_SECTION = 512
"""Sections up to this size skip the proving pass: msgpack's pre-sizing of unproven
claims is bounded by (size / 1 level per byte) * size slots = 2 MiB at worst."""
_SCALARS = frozenset({int, float, bool, type(None), str, bytes}) | eager.BUILT_TYPES
"""Finished leaves: plain msgpack values and small ext values built while parsing."""
_NESTED = frozenset({list, dict, Pending})
_ALLOWED = _SCALARS | _NESTED
_PENDING_ONLY = {Pending}
_EXT_CODES = frozenset(int(code) for code in Ext)
_LEVELLED = eager.BUILT_TYPES - {complex, Decimal, uuid.UUID}
"""Built leaves whose payload was a msgpack array: they count one nesting level."""
_EAGER = eager.EAGER
_build = eager.build
_HASHED = eager.HASHED
_RAW_CODES = frozenset(int(code) for code in RAW_EXTS)  # plain ints: IntEnum hashing is slow


class Decoder(FrameAccess):
    """One decoding pass over a parsed frame (the handlers' services: FrameAccess)."""

    _hashed_budget = eager.HASHED_BUDGET  # class-level starting values: set when changed
    _small: msgpack.Unpacker | None = None
    _small_fed = 0
    _deferred = 0  # ext values left for the walk
    _containers = 0  # lists and maps of the body

    def __init__(self, registry: Registry, limits: DecodeLimits, frame: Frame, writable: bool):
        super().__init__(registry, limits, frame, writable)
        self._max_depth = limits.max_depth
        self._max_items = limits.max_items
        self._max_length = limits.max_container_length

    def run(self, check: Callable[[Decoder, Any], None] | None = None) -> Any:
        """Decode the root value.

        Args:
            check: called with the parsed root (ext values still unbuilt) before
                anything is built; raises to refuse the frame (typed decoding).

        Raises:
            DecodeError / UnknownTypeError / LimitExceededError: on any bad input.
        """
        body = self._frame.body
        root = self._parse_body(body)
        if self._items > self._max_items:
            check_limit("number of items", self._items, self._max_items)
        walk = (
            self._deferred
            or self._containers >= self._max_depth
            or len(body) > self._max_items
            or may_hold_timestamp(body)
        )  # else nothing deferred, nesting <= containers + 1 leaf level, items <= bytes
        if walk or check is not None:  # the recursive part: raise the recursion limit
            with stack_headroom(needed_recursion_limit(self._max_depth)):
                if check is not None:
                    check(self, root)
                if walk:
                    root = self._resolve(root, 0)
            check_limit("number of items", self._items, self._max_items)
        if self._used and not all(self._used):
            raise DecodeError("malformed frame: an out-of-band buffer is never referenced")
        return root

    def _ext_hook(self, code: int, data: bytes) -> Any:
        """msgpack's ext hook: build a small flat leaf now, defer anything else.

        The items of the leaves built here are counted; the count is checked against
        ``max_items`` after the parse (their memory is bounded by the input's bytes).
        """
        if code in _EAGER and len(data) <= eager.EAGER_SIZE:
            hashed = code in _HASHED
            if not hashed or self._hashed_budget > 0:
                built = _build(code, data, self._max_length)
                if built is not None:
                    if hashed:
                        self._hashed_budget -= 1
                    self._items += built[1]
                    return built[0]
        if code not in _EXT_CODES:
            raise DecodeError(f"malformed frame: unknown ext type code {code}")
        self._deferred += 1
        return Pending(code, data)

    def _parse_body(self, body: memoryview) -> Any:
        """Parse the body, counting its containers (a flat body needs no walk).

        A body of 513 to 2048 bytes is parsed without the skip pass (small_parse.py);
        if that fails (an array over the cap, or bad input) the parse is redone from
        scratch the careful way, which also gives the error.
        """
        size = len(body)
        if _SMALL_SECTION < size <= UNPROVEN_SECTION:
            try:
                root, items, self._containers = parse_small(body, self._ext_hook, self._max_length)
                self._items += items
                return root
            except Exception:  # start again: nothing parsed so far counts
                self._items = self._deferred = 0
                self._hashed_budget = eager.HASHED_BUDGET
        return self._unpack(body, body=True)

    def _parse(self, data: Any, options: dict[str, Any]) -> Any:
        """The body's msgpack parse with its ext hook (body_hook.py) and container count."""
        pool = body_hook.FREE  # list.pop/append are atomic: a hook is never shared
        hook = pool.pop() if pool else body_hook.new_hook()
        hook.reset(self._ext_hook, self._max_length)
        count = hook.count
        root = msgpack.unpackb(
            data, ext_hook=hook.hook, list_hook=count, object_hook=count, **options
        )
        items, self._containers = hook.built()
        self._items += items
        if len(pool) < body_hook.POOL:  # not after a failure: it may be left anywhere
            pool.append(hook)
        return root

    def _unpack(self, data: Any, body: bool = False) -> Any:
        """Parse one section (the skip pass first when it is not small)."""
        try:
            size = len(data)
            if size > _SMALL_SECTION:
                size = check_complete(data)
            options = unpack_options(size, self._max_length)
            if body:
                return self._parse(data, options)
            return msgpack.unpackb(data, ext_hook=self._ext_hook, **options)
        except SealpackError:
            raise
        except msgpack.StackError:
            raise LimitExceededError("msgpack nesting exceeds the decoder stack") from None
        except Exception as error:  # from None: the original may quote decrypted data
            raise DecodeError(
                f"malformed frame: invalid msgpack ({type(error).__name__})"
            ) from None

    def _unpack_small(self, data: bytes) -> Any:
        """Unpack a small ext payload with one reused Unpacker (limits sized to
        _SMALL_SECTION); the payload must be exactly one value."""
        unpacker = self._small
        if unpacker is None:
            unpacker = self._small = msgpack.Unpacker(
                max_buffer_size=_SMALL_SECTION,
                ext_hook=self._ext_hook,
                **unpack_options(_SMALL_SECTION, self._limits.max_container_length),
            )
        unpacker.feed(data)
        value = unpacker.unpack()  # OutOfData / ValueError: the caller's DecodeError
        self._small_fed += len(data)
        if unpacker.tell() != self._small_fed:
            raise DecodeError("malformed frame: extra data after an ext payload")
        return value

    def _resolve(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is list:
            return self._resolve_list(value, self._enter(len(value), depth))
        if kind is dict:
            return self._resolve_dict(value, self._enter(len(value), depth))
        if kind is Pending:
            return self._decode_ext(value, depth)
        _check_kinds({kind})
        return value

    def _enter(self, length: int, depth: int) -> int:
        depth += 1
        if depth > self._limits.max_depth:
            raise LimitExceededError(f"nesting depth exceeds the limit of {self._limits.max_depth}")
        self._items += length
        check_limit("number of items", self._items, self._limits.max_items)
        return depth

    def _resolve_list(self, items: list[Any], depth: int) -> list[Any]:
        kinds = set(map(type, items))
        if depth >= self._max_depth:
            _leaves_fit(kinds)
        if kinds <= _SCALARS:
            return items
        _check_kinds(kinds)
        if kinds == _PENDING_ONLY:  # e.g. a list of tuples
            decode_ext = self._decode_ext
            return [decode_ext(item, depth) for item in items]
        resolve = self._resolve
        for index, item in enumerate(items):
            if type(item) in _NESTED:
                items[index] = resolve(item, depth)
        return items

    def _resolve_dict(self, mapping: dict[Any, Any], depth: int) -> dict[Any, Any]:
        key_kinds = set(map(type, mapping))
        value_kinds = set(map(type, mapping.values()))
        if depth >= self._max_depth:
            _leaves_fit(key_kinds | value_kinds)
        if key_kinds <= _SCALARS and value_kinds <= _SCALARS:
            return mapping
        _check_kinds(key_kinds | value_kinds)
        if key_kinds <= _SCALARS:
            for key, item in mapping.items():
                if type(item) in _NESTED:
                    mapping[key] = self._resolve(item, depth)
            return mapping
        resolve = self._resolve
        keys = [resolve(key, depth) for key in mapping]
        check_hash_spread(keys)
        return dict(zip(keys, [resolve(item, depth) for item in mapping.values()], strict=True))

    def _decode_ext(self, pending: Pending, depth: int) -> Any:
        code = pending.code
        try:
            if code in _RAW_CODES:
                value: Any = pending.data
            else:
                value = self.payload(pending)
                kinds = set(map(type, value)) if type(value) is list else None
                if kinds is not None and kinds <= _SCALARS:  # a flat payload (tuple, datetime)
                    if self._enter(len(value), depth) >= self._max_depth:
                        _leaves_fit(kinds)
                else:
                    value = self._resolve(value, depth)
            return BY_CODE[code](self, value, depth)
        except SealpackError:
            raise
        except RecursionError:
            raise LimitExceededError("nesting too deep for the interpreter stack") from None
        except Exception as error:  # from None: a recompose error may quote decrypted data
            raise DecodeError(
                f"malformed frame: invalid {Ext(code).name.lower()} value ({type(error).__name__})"
            ) from None

    def payload(self, pending: Pending) -> Any:
        """The parsed msgpack payload of a non-raw ext (parsed once, then cached).

        Raises:
            DecodeError / LimitExceededError: the payload is not one msgpack value.
        """
        value = pending.payload
        if value is UNPARSED:
            data = pending.data
            try:
                value = (
                    self._unpack_small(data) if len(data) <= _SMALL_SECTION else self._unpack(data)
                )
            except SealpackError:
                raise
            except Exception:
                raise DecodeError(
                    f"malformed frame: invalid {Ext(pending.code).name.lower()} payload"
                ) from None
            pending.payload = value
        return value


def _leaves_fit(kinds: set[type]) -> None:
    """Small ext values built while parsing are one level deeper than their container."""
    if not kinds.isdisjoint(_LEVELLED):
        raise LimitExceededError(
            "nesting depth exceeds the limit (a tuple, set or date at the end)"
        )


def _check_kinds(kinds: set[type]) -> None:
    if not kinds <= _ALLOWED:
        raise DecodeError("malformed frame: value of an unexpected msgpack type")
