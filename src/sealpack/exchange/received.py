"""Saving received files: safe names, never overwriting (``sealpack receive``).

See the "Command line" section of docs/spec/datasite.md.
"""

from __future__ import annotations

from pathlib import Path

from sealpack import errors
from sealpack.exchange.atomic import create_exclusive
from sealpack.exchange.inbox import Message

__all__ = ["save_received"]

_MAX_STEM, _MAX_SUFFIX, _MAX_RENAMES = 100, 16, 1000


def _safe_name(raw_name: str) -> str:
    """A base name without leading dots, its stem and suffix bounded in length."""
    name = Path(raw_name).name.lstrip(".") or "message.bin"
    stem, suffix = Path(name).stem, Path(name).suffix
    if len(suffix) > _MAX_SUFFIX:
        stem, suffix = name, ""
    return stem[:_MAX_STEM] + suffix


def _candidate_names(safe_name: str, message_id: str) -> list[str]:
    """``name``, then ``stem.<message id>.suffix``, then numbered variants."""
    stem, suffix = Path(safe_name).stem, Path(safe_name).suffix
    tagged = f"{stem}.{message_id}"
    return [safe_name, tagged + suffix] + [f"{tagged}.{n}{suffix}" for n in range(1, _MAX_RENAMES)]


def save_received(message: Message, out_dir: Path) -> str:
    """Write a received file's bytes under ``out_dir/<sender>/``, never over a file.

    The name is the ``filename`` metadata's base name without leading dots (stem at
    most 100 characters); a taken name becomes ``<stem>.<message id><suffix>``, then
    ``<stem>.<message id>.<n><suffix>``. Each file is created with ``link(2)``
    (mode 0600), so two receivers cannot clobber each other.

    Args:
        message: a verified message.
        out_dir: the output folder.

    Returns:
        The path written (or a note for a non-bytes object).

    Raises:
        errors.TransportError: the folder is not writable or every candidate name is taken.
    """
    if not isinstance(message.obj, (bytes, bytearray)):
        return f"{type(message.obj).__name__} object (not saved)"
    safe_name = _safe_name(str(message.metadata.get("filename", "message.bin")))
    folder = out_dir / message.sender
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _candidate_names(safe_name, message.message_id):
            if create_exclusive(folder / name, bytes(message.obj), mode=0o600):
                return str(folder / name)
    except OSError as error:
        raise errors.TransportError(f"cannot write to {folder}: {error.strerror}") from error
    raise errors.TransportError(f"no free file name for {safe_name} in {folder}")
