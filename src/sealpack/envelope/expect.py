"""The caller's expected context: checked on the signed metadata before anything is recorded.

A relay that delivers an authentic blob in the wrong context (another run, round, task
or direction) must not be able to burn it: ``expect_metadata`` is checked right after
the signature and the validity window, before the replay store or any prekey is
touched, so the blob still opens later in its right context (issue 10.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sealpack import errors

__all__ = ["ExpectMetadata", "check_expected", "require_expectation"]

ExpectMetadata = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool] | None


def require_expectation(expect: object) -> None:
    """Check the type of an ``expect_metadata`` argument up front.

    Raises:
        SealArgumentError: neither None, a mapping with str keys, nor a callable.
    """
    if expect is None or callable(expect):
        return
    if not isinstance(expect, Mapping) or not all(isinstance(k, str) for k in expect):
        raise errors.SealArgumentError(
            "expect_metadata must be a mapping with str keys, a predicate or None"
        )


def _same(expected: Any, actual: Any) -> bool:
    """Equal as msgpack values: lists and tuples alike, but never a bool for an int."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(_same(expected[k], actual[k]) for k in expected)
        )
    return type(expected) is type(actual) and bool(expected == actual)


def _mismatch(key: str) -> errors.ContextMismatchError:
    return errors.ContextMismatchError(
        f"the signed metadata does not match the expected context (key {key!r}); "
        "nothing was recorded"
    )


def check_expected(metadata: Mapping[str, Any], expect: ExpectMetadata) -> None:
    """Compare the signed metadata with the caller's expectation.

    Args:
        metadata: the authenticated metadata of the blob.
        expect: items that must all be present and equal, or a predicate, or None.

    Raises:
        ContextMismatchError: an item is missing or different, the predicate returned
            anything but True, or it raised (its exception is chained).
    """
    if expect is None:
        return
    if callable(expect):
        try:
            accepted = expect(dict(metadata))
        except Exception as error:
            raise errors.ContextMismatchError(
                f"the expect_metadata predicate raised {type(error).__name__}; nothing was recorded"
            ) from error
        if accepted is not True:
            raise errors.ContextMismatchError(
                "the expect_metadata predicate refused the signed metadata; nothing was recorded"
            )
        return
    for key, value in expect.items():
        if key not in metadata or not _same(value, metadata[key]):
            raise _mismatch(key)
