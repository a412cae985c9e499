"""Type checks for public arguments: a wrong *type* is always a SealArgumentError.

Values of the right type but out of range keep their domain errors (KeyStoreError for a
negative prekey count, BundleError for a bad bundle, ...). These helpers only make sure
no raw TypeError/AttributeError from deeper code reaches the caller.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sealpack import errors, primitives

__all__ = ["MAX_TIME", "require_bytes", "require_int", "require_now", "require_path", "require_rng"]


MAX_TIME = 2**63 - 1
"""Times are u64 on the wire; sealpack keeps them below 2**63."""


def _kind(value: object) -> str:
    return type(value).__name__


def require_int(value: object, what: str) -> int:
    """``value`` as an int (bool refused).

    Raises:
        SealArgumentError: ``value`` is not an int.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.SealArgumentError(f"{what} must be an int, not {_kind(value)}")
    return value


def require_now(value: object, what: str = "now") -> int | None:
    """``None`` or an int number of seconds since the epoch, in ``0 .. 2**63 - 1``.

    Raises:
        SealArgumentError: neither None nor an int in range.
    """
    if value is None:
        return None
    seconds = require_int(value, what)
    if not 0 <= seconds <= MAX_TIME:
        raise errors.SealArgumentError(f"{what} must be within 0..2**63-1 seconds")
    return seconds


def require_rng(value: object) -> primitives.Rng | None:
    """``None`` or a callable ``rng(n) -> bytes``.

    Raises:
        SealArgumentError: neither None nor callable.
    """
    if value is not None and not callable(value):
        raise errors.SealArgumentError(
            f"rng must be a callable rng(n) -> bytes, not {_kind(value)}"
        )
    return value


def require_bytes(value: object, what: str) -> bytes:
    """``value`` as bytes (bytes, bytearray or memoryview).

    Raises:
        SealArgumentError: another type.
    """
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise errors.SealArgumentError(f"{what} must be bytes, not {_kind(value)}")
    return bytes(value)


def require_path(value: Any, what: str) -> Path:
    """``value`` (a str or os.PathLike of str) as a Path.

    Raises:
        SealArgumentError: another type, or a NUL character in the path.
    """
    if isinstance(value, str) or (
        isinstance(value, os.PathLike) and isinstance(os.fspath(value), str)
    ):
        if "\x00" in os.fspath(value):
            raise errors.SealArgumentError(f"{what} must not contain a NUL character")
        return Path(value)
    raise errors.SealArgumentError(
        f"{what} must be a path (str or os.PathLike), not {_kind(value)}"
    )
