"""Large output buffers in huge-page-advised memory, as real ``bytes`` or ``bytearray``.

A fresh 256 MiB ``bytearray(n)`` or ``bytes(...)`` is faulted in 4 KiB pages (the
kernel zeroes and maps 65,536 pages), which halves the speed of writing it. Where
transparent huge pages are in ``madvise`` mode, memory advised with
``madvise(MADV_HUGEPAGE)`` before its first touch is faulted in 2 MiB pages instead
(numpy does this for its large arrays). This module does the same for the two types
sealpack returns:

* :func:`blob_bytes` makes an *uninitialised* ``bytes`` object with the C API
  ``PyBytes_FromStringAndSize(NULL, n)`` (documented: "the contents are
  uninitialised"), advises its memory, and hands a writable view of it to a filler
  that must write every byte before the object is returned to anyone. This is what C
  code does to build a ``bytes`` without a copy; nobody else holds the object while it
  is filled, and its hash is not computed yet. If the filler raises, the object is
  dropped.
* :func:`plain_bytearray` makes an uninitialised ``bytearray`` the same way
  (``PyByteArray_FromStringAndSize(NULL, n)``), advised.

Below :data:`ADVISE_MIN` bytes, off CPython or off Linux, both fall back to the plain
constructors (``bytearray(n)`` zeroed; ``bytes`` through one copy). Nothing here ever
returns memory that was not fully written by the caller's filler (or zeroed).
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from collections.abc import Callable

__all__ = ["ADVISE_MIN", "HUGE_PAGES", "blob_bytes", "plain_bytearray"]

ADVISE_MIN = 4 << 20
"""Smaller buffers are allocated plainly (the C-API path costs a few microseconds)."""
_PAGE = mmap.PAGESIZE
_MADV_HUGEPAGE: int | None = getattr(mmap, "MADV_HUGEPAGE", None)


def _libc_madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise`` through ctypes, or None off Linux/CPython."""
    if sys.platform != "linux" or sys.implementation.name != "cpython":
        return None
    if _MADV_HUGEPAGE is None:  # pragma: no cover - Linux Pythons define it
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.madvise
    except (OSError, AttributeError):  # pragma: no cover - libc without madvise
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _libc_madvise()
HUGE_PAGES = _MADVISE is not None
"""True where large buffers are advised for huge pages (CPython on Linux)."""


def _c_api() -> tuple[Callable[..., object], Callable[..., int], Callable[..., object]]:
    api = ctypes.pythonapi
    new_bytes = api.PyBytes_FromStringAndSize
    new_bytes.restype = ctypes.py_object
    new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    bytes_address = api.PyBytes_AsString
    bytes_address.restype = ctypes.c_void_p
    bytes_address.argtypes = [ctypes.py_object]
    new_bytearray = api.PyByteArray_FromStringAndSize
    new_bytearray.restype = ctypes.py_object
    new_bytearray.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    return new_bytes, bytes_address, new_bytearray


_NEW_BYTES, _BYTES_ADDRESS, _NEW_BYTEARRAY = _c_api() if HUGE_PAGES else (None, None, None)


def _advise(address: int, size: int) -> None:
    """Advise huge pages for the whole pages inside [address, address + size)."""
    assert _MADVISE is not None and _MADV_HUGEPAGE is not None
    start = (address + _PAGE - 1) & ~(_PAGE - 1)
    end = (address + size) & ~(_PAGE - 1)
    if end > start:
        _MADVISE(start, end - start, _MADV_HUGEPAGE)  # advice only: failure is harmless


def _view_of(address: int, size: int) -> memoryview:
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


def blob_bytes(size: int, fill: Callable[[memoryview], None]) -> bytes:
    """A ``bytes`` of ``size`` bytes written by ``fill(view)``, without a final copy.

    Args:
        size: the exact length.
        fill: must write every byte of the writable view it gets (and not keep it).

    Returns:
        The filled bytes object.

    Raises:
        Whatever ``fill`` raises (the object is then dropped).
    """
    if not HUGE_PAGES or size < ADVISE_MIN:
        scratch = bytearray(size)
        fill(memoryview(scratch))
        return bytes(scratch)
    assert _NEW_BYTES is not None and _BYTES_ADDRESS is not None
    blob = _NEW_BYTES(None, size)
    assert isinstance(blob, bytes)
    address = _BYTES_ADDRESS(blob)
    _advise(address, size)
    view = _view_of(address, size)
    try:
        fill(view)
    finally:
        view.release()
    return blob


def plain_bytearray(size: int) -> bytearray:
    """A ``bytearray`` of ``size`` bytes for the caller to overwrite completely.

    Large ones are uninitialised and huge-page advised; small ones are zeroed.
    """
    if not HUGE_PAGES or size < ADVISE_MIN:
        return bytearray(size)
    assert _NEW_BYTEARRAY is not None
    out = _NEW_BYTEARRAY(None, size)
    assert isinstance(out, bytearray)
    address = ctypes.addressof(ctypes.c_char.from_buffer(out))
    _advise(address, size)
    return out
