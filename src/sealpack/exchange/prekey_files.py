"""Names of the one-time prekey files of a datasite (issue 19.8: hostile names).

``prekeys/<id>.json`` and ``claimed/<id>-<16 hex>.json``: an id is 1-10 ASCII
digits with a value below 2^32. ``str.isdigit()`` alone would accept ``².json``
(and ``int()`` then raise), so anything but ASCII digits is skipped, never parsed.
"""

from __future__ import annotations

__all__ = [
    "CLAIM_SUFFIX_HEX",
    "MAX_PREKEY_ID_DIGITS",
    "claim_file_name",
    "claimed_prekey_id",
    "prekey_id",
]

MAX_PREKEY_ID_DIGITS = 10  # prekey ids are u32 (docs/spec/keys.md)
CLAIM_SUFFIX_HEX = 16


def _ascii_id(text: str) -> int:
    """Parse 1-10 ASCII digits as a u32 prekey id; -1 for anything else."""
    if not 0 < len(text) <= MAX_PREKEY_ID_DIGITS or not text.isascii() or not text.isdigit():
        return -1
    value = int(text)
    return value if value < 1 << 32 else -1


def prekey_id(file_name: str) -> int:
    """Parse an offered prekey file name ``<id>.json`` (ASCII digits, bounded).

    Args:
        file_name: a folder entry of ``prekeys/``.

    Returns:
        The id; -1 for any other name (``².json`` included).
    """
    stem, dot, ext = file_name.partition(".")
    if ext != "json" or not dot:
        return -1
    return _ascii_id(stem)


def claim_file_name(key_id: int, random_hex: str) -> str:
    """Return ``<id>-<16 hex>.json``, the name of a claim file.

    Args:
        key_id: the claimed prekey id.
        random_hex: 16 lowercase hex digits.

    Returns:
        The file name.
    """
    return f"{key_id}-{random_hex}.json"


def claimed_prekey_id(file_name: str) -> int:
    """Parse a claim file name ``<id>-<16 hex>.json``.

    Args:
        file_name: a folder entry of ``claimed/``.

    Returns:
        The id; -1 for any other name.
    """
    stem, dash, rest = file_name.partition("-")
    if not dash or rest[-5:] != ".json" or len(rest) != CLAIM_SUFFIX_HEX + 5:
        return -1
    random_part = rest[:-5]
    if not all(c in "0123456789abcdef" for c in random_part):
        return -1
    return _ascii_id(stem)
