"""Failures while opening are always SealpackErrors (issue 10.5), never raw exceptions.

Nothing is delivered when :func:`failures_as_sealpack_errors` raises, and since the
commit is the opener's last step, nothing is recorded either. The original exception
is not chained (no plaintext can travel in it); the message names only its type.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from types import TracebackType

from sealpack import errors

__all__ = ["failures_as_sealpack_errors"]


class _AsSealpackErrors:
    """The context manager of :func:`failures_as_sealpack_errors` (a class, not a
    generator: entering and leaving cost a fraction of a microsecond; issue 18)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None or isinstance(error, errors.SealpackError):
            return  # nothing raised, or already a SealpackError: raised unchanged
        if isinstance(error, sqlite3.Error):
            raise errors.KeyStoreError(
                f"the key store failed while opening ({type(error).__name__}); "
                "nothing was delivered"
            ) from None
        if isinstance(error, OSError):
            raise errors.StorageError(
                f"storage failed while opening ({error.strerror or type(error).__name__}); "
                "nothing was delivered"
            ) from None
        if isinstance(error, Exception):
            raise errors.SealpackError(
                f"opening failed unexpectedly ({type(error).__name__}); nothing was delivered"
            ) from None
        # KeyboardInterrupt, SystemExit, GeneratorExit: raised unchanged (None suppresses nothing)


_AS_SEALPACK_ERRORS = _AsSealpackErrors()


def failures_as_sealpack_errors() -> AbstractContextManager[None]:
    """Turn storage and unexpected errors while opening into SealpackError subclasses.

    Returns:
        A context manager (stateless, so one shared instance).

    Raises:
        KeyStoreError: for an ``sqlite3.Error``.
        StorageError: for an ``OSError`` (a SealpackError that is also an OSError).
        SealpackError: for any other non-SealpackError exception.
    """
    return _AS_SEALPACK_ERRORS
