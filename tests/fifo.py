"""Run a call that must not block on a FIFO; unblock it if it does (test helper)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def call_or_hang(
    function: Callable[[], object], fifo: Path, wait: float = 3.0
) -> tuple[bool, list[object]]:
    """Run ``function`` in a thread for at most ``wait`` seconds.

    Returns:
        (hung, outcome): whether it was still blocked after ``wait`` (it is then let go
        by opening and closing ``fifo`` for writing, which gives the reader EOF), and
        ``[result]`` or ``[exception]``.
    """
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(function())
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(wait)
    hung = worker.is_alive()
    if hung:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    return hung, outcome
