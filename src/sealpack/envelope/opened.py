"""How to open (OpenOptions) and what an opened blob proved (UnsealedInfo)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sealpack import errors
from sealpack.envelope import header as hdr
from sealpack.envelope.delivery import Receipt
from sealpack.envelope.expect import ExpectMetadata, require_expectation
from sealpack.envelope.senders import Sender
from sealpack.keys.arguments import require_now
from sealpack.keys.replay import RETENTION_SLACK

__all__ = ["DEFAULT_CLOCK_SKEW", "MAX_CLOCK_SKEW", "OpenOptions", "Progress", "UnsealedInfo"]

Progress = Callable[[int, int], None]
DEFAULT_CLOCK_SKEW = 300
MAX_CLOCK_SKEW = RETENTION_SLACK
"""A larger skew would let a blob stay valid after the replay guard forgot its id."""
DEFAULT_LIMITS = hdr.EnvelopeLimits()
"""The default limits, built once (frozen, so shared safely; ~1.5 us per call saved)."""


@dataclass(frozen=True)
class OpenOptions:
    """Time, clock skew, parse limits, progress callback, expected context and hold.

    ``expect_metadata``: a mapping whose items must all be in the signed metadata, or
    a predicate on it (ContextMismatchError otherwise, nothing recorded).
    ``hold``: record the message as ``held`` (redelivered until acknowledged).

    Raises:
        SealArgumentError: ``clock_skew`` is not an int in 0..MAX_CLOCK_SKEW (one day),
            ``now`` is neither None nor an int, ``hold`` not a bool, or
            ``expect_metadata`` of the wrong type.
    """

    now: int | None = None
    clock_skew: int = DEFAULT_CLOCK_SKEW
    limits: hdr.EnvelopeLimits = field(default_factory=lambda: DEFAULT_LIMITS)
    progress: Progress | None = None
    expect_metadata: ExpectMetadata = None
    hold: bool = False

    def __post_init__(self) -> None:
        require_now(self.now)
        skew = self.clock_skew
        if not isinstance(skew, int) or isinstance(skew, bool):
            raise errors.SealArgumentError("clock_skew must be an int number of seconds")
        if not 0 <= skew <= MAX_CLOCK_SKEW:
            raise errors.SealArgumentError(
                f"clock_skew must be within 0..{MAX_CLOCK_SKEW} seconds, got {skew}"
            )
        if not isinstance(self.hold, bool):
            raise errors.SealArgumentError("hold must be True or False")
        require_expectation(self.expect_metadata)

    def current_time(self) -> int:
        """``now`` or the system clock."""
        return int(time.time()) if self.now is None else self.now


@dataclass(frozen=True)
class UnsealedInfo:
    """Verified facts about an opened blob.

    ``hybrid``: this recipient's stanza used PQXDH (False: classical X3DH).
    ``redelivered``: the message was opened before with ``hold=True`` and never
    acknowledged; process it idempotently. ``receipt``: pass it (or this info) to
    ``sealpack.acknowledge`` after processing a message opened with ``hold=True``.
    """

    sender: Sender
    message_id: bytes
    created: int
    expires: int
    content_type: str
    metadata: dict[str, Any]
    size: int
    recipient_count: int
    hybrid: bool = True
    redelivered: bool = False
    receipt: Receipt | None = field(default=None, repr=False)

    @property
    def sender_name(self) -> str:
        """The name the trusted sender is known by."""
        return self.sender.name

    @property
    def sender_fingerprint(self) -> str:
        """The sender's safety number (computed only for an authenticated key)."""
        return self.sender.fingerprint()
