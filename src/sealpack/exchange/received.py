"""Saving received files: safe names, durable, never overwriting (``sealpack receive``).

The ``filename`` metadata is chosen by the sender: it is reduced to one safe
name (no NUL, control or format characters, no path separators, no leading
dots, bounded length) before use, and everything shown on a terminal goes
through :func:`printable`. See the "Command line" section of docs/spec/datasite.md.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from sealpack import errors, regular_files
from sealpack.exchange import atomic, folders
from sealpack.exchange.inbox import Message

__all__ = ["DEFAULT_NAME", "printable", "safe_file_name", "save_received"]

DEFAULT_NAME = "message.bin"
_MAX_STEM, _MAX_SUFFIX, _MAX_RENAMES, _MAX_NAME_BYTES = 100, 16, 1000, 200
_MAX_RAW = 4096
_NAME_MAX = 255  # bytes in one file name (Linux, macOS)


def _allowed(char: str) -> bool:
    """Not a separator, and not a control, format, surrogate or unassigned character."""
    return char not in "/\\" and unicodedata.category(char)[0] != "C"


def _bounded(text: str, max_bytes: int) -> str:
    """Cut ``text`` to at most ``max_bytes`` of UTF-8 without splitting a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def safe_file_name(raw_name: object) -> str:
    """Reduce a sender-chosen ``filename`` to one safe file name.

    Keeps the part after the last ``/`` or ``\\``, drops control, format and
    other non-printing characters (NUL, escape sequences, bidi overrides) and
    leading dots and spaces, and bounds the stem to 100 characters, the suffix to
    16 and the whole name to 200 UTF-8 bytes.

    Args:
        raw_name: the metadata value (anything; non-strings give the default).

    Returns:
        A non-empty, non-hidden file name; ``message.bin`` when nothing is left.
    """
    if not isinstance(raw_name, str):
        return DEFAULT_NAME
    base = raw_name[-_MAX_RAW:].replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in base if _allowed(c)).lstrip(". ").rstrip(" ")
    if not name:
        return DEFAULT_NAME
    stem, suffix = Path(name).stem, Path(name).suffix
    if len(suffix) > _MAX_SUFFIX:
        stem, suffix = name, ""
    stem = _bounded(stem[:_MAX_STEM], _MAX_NAME_BYTES - len(suffix.encode("utf-8")))
    return (stem + suffix) if stem else DEFAULT_NAME


def printable(text: str) -> str:
    """Escape what a terminal would interpret (control and format characters).

    Args:
        text: text that may come from a peer.

    Returns:
        The text with every non-printing character shown as ``\\xNN`` / ``\\uNNNN``.
    """
    return "".join(c if c == " " or c.isprintable() else ascii(c)[1:-1] for c in text)


def _candidate_names(safe_name: str, message_id: str) -> list[str]:
    """``name``, then ``stem.<message id>.suffix``, then numbered variants.

    The stem is cut so that every candidate fits ``NAME_MAX`` (255 bytes).
    """
    stem, suffix = Path(safe_name).stem, Path(safe_name).suffix
    longest = f".{message_id}.{_MAX_RENAMES}{suffix}".encode()
    tagged = f"{_bounded(stem, _NAME_MAX - len(longest))}.{message_id}"
    return [safe_name, tagged + suffix] + [f"{tagged}.{n}{suffix}" for n in range(1, _MAX_RENAMES)]


def save_received(message: Message, out_dir: Path) -> str:
    """Write a received file's bytes under ``out_dir/<sender>/``, durably, never over a file.

    The name is :func:`safe_file_name` of the ``filename`` metadata; a taken name
    becomes ``<stem>.<message id><suffix>``, then ``<stem>.<message id>.<n><suffix>``
    (the stem cut so that each fits 255 bytes).
    Each file is written to a temporary file, fsynced, and hard-linked into place
    (mode 0600), and the folder is fsynced: when this returns, the file is on disk.
    ``<sender>`` is never followed if it is a symlink. A ``redelivered`` message
    whose exact content is already under one of its candidate names (saved before a
    crash, not acknowledged) is not saved again.

    Args:
        message: a verified message.
        out_dir: the output folder.

    Returns:
        The path written.

    Raises:
        errors.TransportError: the folder is not writable, every candidate name is
            taken, or the object is not bytes (nothing to save as a file: the caller
            must not acknowledge it; the Python API can still open it).
    """
    if not isinstance(message.obj, (bytes, bytearray)):
        kind = type(message.obj).__name__
        raise errors.TransportError(
            f"a {kind} object, not file bytes: open it with the Python API (Peer)"
        )
    safe_name = safe_file_name(message.metadata.get("filename", DEFAULT_NAME))
    folder = out_dir / message.sender
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with folders.open_folder(out_dir, [message.sender], create=True) as folder_fd:
            for name in _candidate_names(safe_name, message.message_id):
                if message.redelivered and _holds(folder_fd, name, bytes(message.obj)):
                    return str(folder / name)  # saved before a crash: not saved twice
                if atomic.create_exclusive(folder_fd, name, bytes(message.obj), mode=0o600):
                    _fsync_path(out_dir)
                    return str(folder / name)
    except OSError as error:
        raise errors.TransportError(f"cannot write to {folder}: {error.strerror}") from error
    raise errors.TransportError(f"no free file name for {safe_name} in {folder}")


def _holds(folder_fd: int, name: str, content: bytes) -> bool:
    """Tell whether ``name`` is a regular file with exactly ``content``."""
    try:
        return regular_files.read_regular(folder_fd, name, limit=len(content)) == content
    except (OSError, errors.SealpackError):
        return False


def _fsync_path(directory: Path) -> None:
    """Make the creation of the sender's sub-folder durable too."""
    fd = folders.open_root(directory)
    try:
        atomic.fsync_folder(fd)
    finally:
        os.close(fd)
