"""Polling an inbox with backoff (``Peer.watch``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from sealpack.exchange.message import Message

__all__ = ["poll_with_backoff"]


def poll_with_backoff(
    poll: Callable[[], Iterable[Message]],
    *,
    timeout: float | None,
    min_interval: float,
    max_interval: float,
    sleep: Callable[[float], None],
    maintain: tuple[Callable[[], None], float] | None = None,
) -> Iterator[Message]:
    """Poll until ``timeout``, sleeping (doubling) after polls that found nothing new.

    A poll that only found redelivered (still unacknowledged) messages counts as
    empty, so a message the application keeps failing on is retried with backoff.

    Args:
        poll: returns the messages found by one pass over the inbox.
        timeout: stop after this many seconds in total; None = never.
        min_interval: the first delay after an empty poll, in seconds.
        max_interval: the longest delay between polls.
        sleep: the sleep function.
        maintain: ``(task, every)``: run ``task`` at the start and then before a
            poll whenever ``every`` seconds passed since its last run.

    Yields:
        The messages of every poll, as they come.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = min_interval
    last_maintained: float | None = None
    while deadline is None or time.monotonic() < deadline:
        if maintain is not None and (
            last_maintained is None or time.monotonic() - last_maintained >= maintain[1]
        ):
            maintain[0]()
            last_maintained = time.monotonic()
        got_new = False
        for message in poll():
            got_new = got_new or not message.redelivered  # an unacked one must not spin
            yield message
        if got_new:
            interval = min_interval  # more may be on the way: poll again at once
            continue
        sleep(interval)
        interval = min(interval * 2, max_interval)
