"""Progress display for long operations of the CLI and the demo, built on tqdm.

A bar is drawn only on a terminal: tqdm's ``disable=None`` turns it off when the stream is
not a TTY (a pipe, a file, a CI log), so logs get no redraw noise at all; ``quiet=True``
turns it off everywhere. The bar shows bytes done, rate and time left.

The callback it yields has the library's progress signature ``(done, total)`` and may be
fed several payloads one after the other (each counting from 0 to its own total): the bar
adds them up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

__all__ = ["ProgressCallback", "payload_bars", "progress_bar"]

ProgressCallback = Callable[[int, int], None]


@contextmanager
def progress_bar(
    label: str, total: int, *, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[ProgressCallback]:
    """A byte progress bar over one or several payloads.

    Args:
        label: the text before the bar.
        total: bytes of all payloads together.
        quiet: draw nothing at all.
        stream: where to draw; stderr when None. Nothing is drawn unless it is a terminal.

    Yields:
        A ``(done, payload_total)`` callback for sealpack's ``progress=`` arguments.
    """
    bar = _bar(label, total, stream, disable=True if quiet else None)
    finished = 0
    shown = 0

    def update(done: int, payload_total: int) -> None:
        nonlocal finished, shown
        position = finished + done
        if position > shown:
            bar.update(position - shown)
            shown = position
        if done >= payload_total:
            finished += payload_total

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def payload_bars(
    label: str, *, min_size: int = 0, quiet: bool = False, stream: TextIO | None = None
) -> Iterator[ProgressCallback]:
    """One bar per payload, for loops whose payload sizes are known only as they come
    (the messages of an inbox): a bar starts at a payload's first report and closes at
    its last; payloads under ``min_size`` bytes get none.

    Args:
        label: the text before each bar.
        min_size: smallest payload (bytes) worth a bar.
        quiet: draw nothing at all.
        stream: where to draw; stderr when None. Nothing is drawn unless it is a terminal.

    Yields:
        A ``(done, payload_total)`` callback.
    """
    current: list[tqdm[Any]] = []
    shown = 0

    def update(done: int, payload_total: int) -> None:
        nonlocal shown
        if quiet or payload_total < min_size:
            return
        if not current:
            current.append(_bar(label, payload_total, stream))
            shown = 0
        if done > shown:
            current[0].update(done - shown)
            shown = done
        if done >= payload_total:
            current.pop().close()

    try:
        yield update
    finally:
        while current:
            current.pop().close()


def _bar(
    label: str, total: int, stream: TextIO | None, *, disable: bool | None = None
) -> tqdm[Any]:
    """A byte bar; ``disable=None`` lets tqdm draw only on a terminal."""
    return tqdm(
        total=max(total, 0),
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=stream if stream is not None else sys.stderr,
        disable=disable,
        mininterval=0.2,
        leave=True,
        dynamic_ncols=True,
    )
