"""Codec: a registry of trusted types, decode limits, and the frame encode/decode."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import IO, Any, TypeVar

from sealpack.errors import DecodeError, LimitExceededError, SealpackError, SerializationTypeError
from sealpack.serialization.decoder import Decoder
from sealpack.serialization.encoder import Encoder
from sealpack.serialization.expect import compile_expect, schema_check
from sealpack.serialization.fast_encode import pack_plain
from sealpack.serialization.frame import build_frame, flat_view, parse_frame, small_frame
from sealpack.serialization.limits import DEFAULT_OOB_THRESHOLD, DecodeLimits
from sealpack.serialization.registry import Decomposer, Registry
from sealpack.serialization.stack import needed_recursion_limit, stack_headroom
from sealpack.serialization.streams import read_frame

__all__ = ["Codec", "default_codec"]

F = TypeVar("F", bound=Callable[..., Any])
_MAX_THRESHOLD = 1 << 30
_NO_TYPES = b"\x90"  # an empty msgpack array


class Codec:
    """A FOBS-compatible serializer with its own registry and decode limits.

    Args:
        limits: decode limits (safe defaults when None).
        oob_threshold: buffers of at least this many bytes (array data, bytes,
            bytearray, memoryview, str) go out-of-band; smaller ones inline.

    Raises:
        ValueError: ``oob_threshold`` is not an int in [0, 2**30].

    Creating a codec does not touch the interpreter's recursion limit; encode and
    decode raise it only while they run (see ``serialization/stack.py``).
    """

    def __init__(
        self, *, limits: DecodeLimits | None = None, oob_threshold: int = DEFAULT_OOB_THRESHOLD
    ) -> None:
        if type(oob_threshold) is not int or not 0 <= oob_threshold <= _MAX_THRESHOLD:
            raise ValueError(f"oob_threshold must be an int in [0, {_MAX_THRESHOLD}]")
        self.limits = limits or DecodeLimits()
        self.oob_threshold = oob_threshold
        self._registry = Registry()
        self._stack_needed = needed_recursion_limit(self.limits.max_depth)

    # --- registry (FOBS API) ------------------------------------------------

    def register(self, decomposer: type[Decomposer] | Decomposer) -> None:
        """Register a Decomposer class or instance; a duplicate warns and is ignored.

        Args:
            decomposer: a Decomposer subclass (instantiated without arguments) or instance.

        Raises:
            SerializationTypeError: (a TypeError) ``decomposer`` is not a Decomposer.
        """
        self._registry.register(decomposer)

    def register_data_classes(self, *classes: type) -> None:
        """Make dataclasses decodable (sending one needs no registration).

        Args:
            classes: dataclass types, rebuilt from their fields without ``__init__``.

        Raises:
            SerializationTypeError: a class is not a dataclass.
        """
        self._registry.register_data_classes(*classes)

    def register_enum_types(self, *classes: type[Enum]) -> None:
        """Make Enum types decodable (sending a member needs no registration).

        Args:
            classes: Enum subclasses, rebuilt by ``cls(value)``.

        Raises:
            SerializationTypeError: a class is not an Enum.
        """
        self._registry.register_enum_types(*classes)

    def register_serializer(self, cls: type) -> Callable[[F], F]:
        """Decorator: ``@codec.register_serializer(T)`` on ``def f(obj: T) -> data``.

        Args:
            cls: the exact class the decorated function encodes.

        Returns:
            A decorator that registers the function and returns it unchanged.
        """

        def decorate(function: F) -> F:
            self._registry.add_serializer(cls, function)
            return function

        return decorate

    def register_deserializer(self, cls: type) -> Callable[[F], F]:
        """Decorator: ``@codec.register_deserializer(T)`` on ``def f(data) -> T``.

        Args:
            cls: the class the decorated function rebuilds (its name is the wire key).

        Returns:
            A decorator that registers the function and returns it unchanged.
        """

        def decorate(function: F) -> F:
            self._registry.add_deserializer(cls, function)
            return function

        return decorate

    def num_decomposers(self) -> int:
        """Returns: the number of user-registered types (built-ins are not counted)."""
        return self._registry.count()

    def reset(self) -> None:
        """Forget every registration."""
        self._registry.clear()

    # --- encode ---------------------------------------------------------------

    def dumps_buffers(self, obj: object) -> list[memoryview]:
        """Encode ``obj`` as frame parts; ``b"".join(parts) == dumps(obj)``.

        Args:
            obj: built-in values, numpy arrays, dataclasses, enums (both need no
                registration to be sent) and registered types.

        Returns:
            The parts. Large contiguous arrays and buffers are not copied: their
            parts are views of the caller's memory and must not change until consumed.

        Raises:
            SerializationTypeError: unregistered type (a TypeError).
            CycleError: a reference cycle.
            LimitExceededError: nesting deeper than ``limits.max_depth``.
        """
        body = self._encode_plain(obj)
        if body is not None:
            return [memoryview(small_frame(_NO_TYPES, body))]
        return self._dumps_general(obj)

    def _dumps_general(self, obj: object) -> list[memoryview]:
        try:
            with stack_headroom(self._stack_needed):
                encoder, types, body = self._encode(obj)
        except SealpackError:
            raise
        except RecursionError as error:
            raise LimitExceededError("object nesting too deep to serialize") from error
        except (ValueError, TypeError, OverflowError) as error:
            if "recursion limit" in str(error):  # msgpack packs <= 511 plain nested levels
                raise LimitExceededError("lists/dicts nested too deep for msgpack") from error
            raise SerializationTypeError(f"can not serialize object: {error}") from error
        return build_frame(types, body, encoder.buffers)

    def _encode_plain(self, obj: object) -> bytes | None:
        """The body from the fast path (fast_encode.py), or None: use the general encoder.

        None when the object holds anything but plain values, tuples, sets and
        datetimes, nests deeper than FAST_DEPTH, or when msgpack raises (an int beyond
        64 bits, a lone surrogate) or the body reaches the out-of-band threshold. The
        general encoder then gives the same bytes, or the error.
        """
        try:
            body = pack_plain(obj, self.limits.max_depth)
        except Exception:  # NotPlain, or anything the general encoder reports properly
            return None
        return body if len(body) + len(_NO_TYPES) < self.oob_threshold else None

    def _encode(self, obj: object) -> tuple[Encoder, bytes, bytes]:
        """Encode optimistically (no per-value size checks), then carefully if needed.

        The optimistic pass is exact unless an int exceeds 64 bits (msgpack raises
        OverflowError), a str holds a lone surrogate (UnicodeEncodeError) or a
        str/bytes reached the out-of-band threshold, which is only possible when the
        packed sections reach it: then the careful pass runs.
        """
        threshold, depth = self.oob_threshold, self.limits.max_depth
        try:
            encoder = Encoder(self._registry, threshold, depth, optimistic=True)
            root = encoder.encode(obj)
            types = encoder.pack(encoder.type_names) if encoder.type_names else _NO_TYPES
            body = encoder.pack(root)
            if len(types) + len(body) < threshold:
                return encoder, types, body
        except (OverflowError, UnicodeEncodeError):
            pass
        encoder = Encoder(self._registry, threshold, depth)
        root = encoder.encode(obj)
        types = encoder.pack(encoder.type_names) if encoder.type_names else _NO_TYPES
        return encoder, types, encoder.pack(root)

    def dumps(self, obj: object) -> bytes:
        """Encode ``obj`` into one bytes object (each part copied exactly once).

        Args:
            obj: as for :meth:`dumps_buffers`.

        Returns:
            The frame.

        Raises:
            Same as :meth:`dumps_buffers`.
        """
        body = self._encode_plain(obj)
        if body is not None:
            return small_frame(_NO_TYPES, body)
        return b"".join(self._dumps_general(obj))

    def dump(self, obj: object, stream: IO[bytes]) -> None:
        """Encode ``obj`` and write the frame to a binary stream.

        Args:
            obj: as for :meth:`dumps_buffers`.
            stream: writable binary stream; nothing is written if encoding fails.

        Raises:
            Same as :meth:`dumps_buffers`; OSError from the stream.
        """
        for part in self.dumps_buffers(obj):
            while part:
                written = stream.write(part)
                if written is None or written >= len(part):
                    break
                part = part[written:]

    # --- decode ---------------------------------------------------------------

    def loads(self, data: bytes | bytearray | memoryview, *, expect: Any = None) -> Any:
        """Decode one frame; arrays over large buffers are views into ``data``.

        Args:
            data: exactly one frame (any contiguous bytes-like object). The views
                are writable when ``data`` is writable (bytearray, writable
                memoryview, numpy uint8 array) and read-only otherwise.
            expect: None (no check), or a type annotation, ``sealpack.Array(...)``
                or ``sealpack.like(reference)`` the value must match; checked on the
                parsed frame before anything is built (docs/spec/codec.md section 9).

        Returns:
            The decoded object (the same with or without ``expect``).

        Raises:
            DecodeError: malformed frame. UnknownTypeError: unregistered type.
            LimitExceededError: a decode limit was exceeded.
            SchemaError: (a DecodeError) the value does not match ``expect``.
            TypeError: ``expect`` is not an annotation sealpack can check.
        """
        check = None if expect is None else schema_check(compile_expect(expect))
        view = flat_view(data)
        frame = parse_frame(view, self.limits)
        try:  # the decoder raises the recursion limit when it walks
            decoder = Decoder(self._registry, self.limits, frame, not view.readonly)
            return decoder.run(check)
        except SealpackError:
            raise
        # ``from None`` throughout: the original exception may quote the decrypted data
        # (a ValueError naming an unknown enum value), and a logged traceback would show it
        except RecursionError:
            raise LimitExceededError("nesting too deep for the interpreter stack") from None
        except MemoryError:
            raise LimitExceededError("the decoded frame does not fit in memory") from None
        except Exception as error:
            raise DecodeError(f"malformed frame ({type(error).__name__})") from None

    def load(self, stream: IO[bytes], *, expect: Any = None) -> Any:
        """Read exactly one frame from a binary stream into a fresh bytearray and decode it.

        The frame is read in bounded steps, each at most as large as what has
        already arrived (capped at 64 MiB), so a header claiming more than the
        stream holds costs about what the stream really delivered.

        Args:
            stream: readable binary stream, left just after the frame.
            expect: as for :meth:`loads`.

        Returns:
            The decoded object (its arrays are writable).

        Raises:
            DecodeError: truncated stream or malformed frame (see :meth:`loads`);
                SchemaError when the value does not match ``expect``.
            LimitExceededError: the claimed size exceeds ``max_total_size``, or the
                frame does not fit in memory.
        """
        try:
            frame = read_frame(stream, self.limits.max_total_size)
        except MemoryError as error:
            raise LimitExceededError("the frame does not fit in memory") from error
        return self.loads(frame, expect=expect)


_DEFAULT = Codec()


def default_codec() -> Codec:
    """Returns: the process-wide codec used by ``sealpack.fobs``."""
    return _DEFAULT
