"""Failures while opening are always SealpackErrors (issue 10.5), never raw exceptions.

Nothing is delivered when :func:`failures_as_sealpack_errors` raises, and since the
commit is the opener's last step, nothing is recorded either. The original exception
is not chained (no plaintext can travel in it); the message names only its type.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from sealpack import errors

__all__ = ["failures_as_sealpack_errors"]


@contextlib.contextmanager
def failures_as_sealpack_errors() -> Iterator[None]:
    """Turn storage and unexpected errors while opening into SealpackError subclasses.

    Raises:
        KeyStoreError: for an ``sqlite3.Error``.
        StorageError: for an ``OSError`` (a SealpackError that is also an OSError).
        SealpackError: for any other non-SealpackError exception.
    """
    try:
        yield
    except errors.SealpackError:
        raise
    except sqlite3.Error as error:
        raise errors.KeyStoreError(
            f"the key store failed while opening ({type(error).__name__}); nothing was delivered"
        ) from None
    except OSError as error:
        raise errors.StorageError(
            f"storage failed while opening ({error.strerror or type(error).__name__}); "
            "nothing was delivered"
        ) from None
    except Exception as error:
        raise errors.SealpackError(
            f"opening failed unexpectedly ({type(error).__name__}); nothing was delivered"
        ) from None
