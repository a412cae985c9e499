"""Validation of identity names (used in bundles, key stores and folder names)."""

from __future__ import annotations

import re

from sealpack import errors

__all__ = ["NAME_PATTERN", "validate_name"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def validate_name(name: object, error: type[errors.SealpackError]) -> str:
    """Return ``name`` if it is 1-64 chars of ``[A-Za-z0-9._@+-]``, not starting with a symbol.

    Raises:
        error: the name is not a string or does not match.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise error("name must be 1-64 characters of A-Z a-z 0-9 . _ @ + - (starting alphanumeric)")
    return name
