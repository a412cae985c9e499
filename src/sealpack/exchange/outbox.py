"""Seal once, deliver to many: the sending half of :class:`~sealpack.exchange.peer.Peer`.

One sealed blob goes to every recipient's inbox (one payload encryption for N
recipients). Streaming mode never builds the blob in memory: for one recipient
``seal_to`` writes straight into the inbox's temporary file; for several it
writes one staged temporary file that is then copied to each inbox.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO

from sealpack import api
from sealpack.exchange.transport import Transport

__all__ = ["ProgressCallback", "seal_and_deliver"]

ProgressCallback = Callable[[int, int], None]
"""Called with (bytes done, bytes total) while a payload is sealed or opened."""

_COPY_CHUNK = 1 << 20


def seal_and_deliver(
    transport: Transport,
    obj: object,
    recipients: Sequence[str],
    *,
    sender_name: str,
    seal_options: Mapping[str, Any],
    stream: bool,
    progress: ProgressCallback | None,
) -> list[str]:
    """Seal ``obj`` once with ``seal_options`` and deliver the blob to each recipient.

    Args:
        transport: where the inboxes are.
        obj: the object to seal.
        recipients: inbox owners, in delivery order.
        sender_name: this peer's name (recorded in the message ids).
        seal_options: keyword arguments for :func:`sealpack.api.seal`.
        stream: use :func:`sealpack.api.seal_to` (bounded memory).
        progress: hears (bytes sealed, total).

    Returns:
        The message ids, one per recipient.
    """
    if not stream:
        blob = api.seal(obj, **seal_options)
        if progress is not None:
            progress(len(blob), len(blob))
        return [transport.deliver(name, blob, sender=sender_name) for name in recipients]
    options = {**seal_options, "progress": progress}
    if len(recipients) == 1:
        writer = _sealing_writer(obj, options)
        return [transport.deliver(recipients[0], writer, sender=sender_name)]
    with tempfile.TemporaryFile() as staged:
        api.seal_to(obj, staged, **options)
        return [
            transport.deliver(name, _copying_writer(staged), sender=sender_name)
            for name in recipients
        ]


def _sealing_writer(obj: object, options: Mapping[str, Any]) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        api.seal_to(obj, out, **options)

    return write


def _copying_writer(source: BinaryIO) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        source.seek(0)
        shutil.copyfileobj(source, out, _COPY_CHUNK)

    return write
