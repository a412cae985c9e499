"""``Message``: one verified message handed to the application, acknowledged once.

The inbox opens a blob with ``hold=True``: the message id is recorded as *held*
and the blob stays in the inbox until the application acknowledges the message
(:meth:`Message.ack`, leaving a ``with message:`` block without an exception, or
asking ``Peer.iter_messages`` / ``Peer.watch`` for the next message). A message
that was never acknowledged is handed over again after a restart with
``redelivered=True`` (docs/spec/datasite.md, "Delivery guarantee").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["Message"]


@dataclass(frozen=True)
class Message:
    """One verified message; unpacks as ``(sender, metadata, obj)``.

    Attributes:
        sender: the verified sender (from the signature, never the file name).
        metadata: the signed application metadata.
        obj: the opened object.
        message_id: the transport's id of the blob.
        first_contact: True when this message pinned the sender (trust on first
            use): the app may want to show the sender's fingerprint.
        redelivered: this message was handed to the application before (by this or
            an earlier process) and never acknowledged: process it idempotently.
    """

    sender: str
    metadata: Mapping[str, Any] = field(repr=False)  # app data (encrypted in a session)
    obj: Any = field(repr=False)  # the plaintext: never in a repr (logs, tracebacks)
    message_id: str = ""
    first_contact: bool = False
    redelivered: bool = False
    _acknowledge: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _state: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.sender, self.metadata, self.obj))

    @property
    def acknowledged(self) -> bool:
        """True once :meth:`ack` succeeded (or the message needs no acknowledgement)."""
        return self._acknowledge is None or self._state.get("acked", False)

    def ack(self) -> None:
        """Acknowledge the message: it is processed and must never be delivered again.

        Removes the blob from the inbox (or archives it), then marks the message id
        done and deletes the one-time prekey it used. Calling it again does nothing.

        Raises:
            errors.SealpackError: the inbox or the key store could not record it (the
                message is then delivered again, marked ``redelivered``).
        """
        with self._lock:
            if self.acknowledged or self._acknowledge is None:
                return
            self._acknowledge()
            self._state["acked"] = True

    def __enter__(self) -> Message:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.ack()
