"""Caller-supplied randomness must never repeat a content key by accident (issue 19.7).

``rng=`` on the public sealing functions exists for reproducible tests. A
deterministic generator reused across calls (re-created from one seed, or a constant
function) would reuse content keys, payload salts and ephemeral keys. So every
content key drawn from a caller's ``rng`` is remembered (a 16-byte tag of it, for
the life of the process) and a repeat is refused with SealArgumentError before
anything is sealed or any prekey is taken. The one reproducible path is the
test-only context manager :func:`reproducible_for_vectors` (the vector generator
and the test that re-seals the vectors). With ``rng=None`` (``os.urandom``, the
default) nothing is remembered.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from sealpack import errors, primitives

__all__ = ["draw_content_key", "reproducible_for_vectors"]

_TAG_LABEL = b"sealpack/v2/rng-reuse-tag\x00"
_seen: set[bytes] = set()
_lock = threading.Lock()
_local = threading.local()


@contextlib.contextmanager
def reproducible_for_vectors() -> Iterator[None]:
    """Let a caller's rng repeat content keys in this thread (vector tools only)."""
    before = getattr(_local, "reproducible", False)
    _local.reproducible = True
    try:
        yield
    finally:
        _local.reproducible = before


def draw_content_key(size: int, rng: primitives.Rng | None) -> bytes:
    """Draw the content key; refuse one a caller's ``rng`` already produced.

    Args:
        size: the content key size.
        rng: the caller's generator, or None for ``os.urandom``.

    Returns:
        The content key.

    Raises:
        SealArgumentError: ``rng`` produced this content key before in this process.
    """
    key = primitives.random_bytes(size, rng=rng)
    if rng is None or getattr(_local, "reproducible", False):
        return key
    tag = primitives.sha256(_TAG_LABEL + key)[:16]
    with _lock:
        if tag in _seen:
            raise errors.SealArgumentError(
                "rng produced a content key it produced before: a deterministic generator "
                "reused across seals would reuse keys and nonces; give every seal a fresh "
                "generator state (or rng=None)"
            )
        _seen.add(tag)
    return key
