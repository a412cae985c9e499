"""Expectations for sealpack's own wrappers around an application's object.

A session start (``{START_KEY: start, "message": obj}``) and a datasite ratchet message
(``{WRAPPER_KEY: context, "obj": obj}``) carry the application's object inside a dict
of sealpack's. The application's ``expect=`` describes the object; these expectations
check the whole payload on the parsed frame, before anything is built, so a refused
object never reaches a registered type's ``recompose`` (SECURITY.md, issue 13).
"""

from __future__ import annotations

from typing import Any

from sealpack.serialization.decoder import Decoder
from sealpack.serialization.expect import compile_expect
from sealpack.serialization.pending import Pending
from sealpack.serialization.schema import Mismatch, Spec, key_segment
from sealpack.serialization.wire import Ext

__all__ = ["when_key", "wrapper"]


def wrapper(label: str, fixed: dict[str, Any], inner_key: str, inner: Any) -> Spec:
    """A dict of exactly the ``fixed`` keys and ``inner_key``: sealpack's own wrapper
    around an application's object (a session start, a datasite message's context).

    Mismatch paths inside the object start at ``$`` as if it were sent alone (the
    application's annotation describes the object, not the wrapper).

    Args:
        label: the wrapper's name in mismatch messages.
        fixed: the wrapper's own keys -> annotation (or spec).
        inner_key: the key of the application's object.
        inner: the application's annotation (or spec).

    Returns:
        The compiled expectation.
    """
    specs = {key: compile_expect(annotation) for key, annotation in fixed.items()}
    return _Wrapper(label, specs, inner_key, compile_expect(inner))


class _Wrapper(Spec):
    """See :func:`wrapper`."""

    def __init__(self, label: str, fixed: dict[str, Spec], inner_key: str, inner: Spec) -> None:
        self.label, self.fixed, self.inner_key, self.inner = label, fixed, inner_key, inner
        self.keys = frozenset(fixed) | {inner_key}

    def check(self, decoder: Decoder, value: Any) -> None:
        """Check the wrapper's keys, then the application's object (paths from ``$``)."""
        if type(value) is not dict or value.keys() != self.keys:
            raise self.fail(decoder, value)
        for key, spec in self.fixed.items():
            try:
                spec.check(decoder, value[key])
            except Mismatch as mismatch:
                raise mismatch.at(key_segment(key)) from None
        self.inner.check(decoder, value[self.inner_key])


def when_key(key: str, wrapped: Spec, otherwise: Any) -> Spec:
    """``wrapped`` for a dict that holds ``key`` (sealpack's own wrapper, recognised
    by that key, e.g. a session start), ``otherwise`` for any other value.

    Args:
        key: the key that marks the wrapper.
        wrapped: the wrapper's expectation.
        otherwise: the annotation (or spec) every other value must match.

    Returns:
        The compiled expectation.
    """
    return _KeyedOr(key, wrapped, compile_expect(otherwise))


class _KeyedOr(Spec):
    """See :func:`when_key`: the key decides which expectation applies, as the code
    that unwraps the payload decides (not the first alternative that happens to match)."""

    def __init__(self, key: str, wrapped: Spec, otherwise: Spec) -> None:
        self.key, self.wrapped, self.otherwise = key, wrapped, otherwise
        self.label = f"{otherwise.label} (or {wrapped.label})"

    def check(self, decoder: Decoder, value: Any) -> None:
        """Check ``value`` against the wrapper's expectation or the plain one.

        A plain dict is the wrapper when it holds the key, and also when one of its keys
        is still unbuilt here and may build to something equal to the key (a string sent
        out of band, a registered type such as a ``StrEnum`` member, a numpy ``str_``).
        The wrapper's expectation refuses such keys, so what the unwrapping code will take
        for the wrapper is never checked as the plain object. Keys that cannot equal a
        string (tuples, dates, ...) leave a dict plain. Only a plain ``dict`` is ever a
        wrapper (the unwrapping code requires exactly that type).
        """
        if type(value) is dict and (
            self.key in value or any(_may_build_to_str(key) for key in value)
        ):
            self.wrapped.check(decoder, value)
        else:
            self.otherwise.check(decoder, value)


_NEVER_STR = frozenset(
    {
        Ext.TUPLE,
        Ext.SET,
        Ext.FROZENSET,
        Ext.ORDERED_DICT,
        Ext.BYTEARRAY,
        Ext.MEMORYVIEW,
        Ext.BIGINT,
        Ext.COMPLEX,
        Ext.DATETIME,
        Ext.DATE,
        Ext.TIME,
        Ext.TIMEDELTA,
        Ext.DECIMAL,
        Ext.UUID,
        Ext.NAMESPACE,
        Ext.NDARRAY,
    }
)
"""Ext types that never build to a value equal to a str (OOB, CUSTOM, NPSCALAR may)."""


def _may_build_to_str(key: Any) -> bool:
    return type(key) is Pending and key.code not in _NEVER_STR
