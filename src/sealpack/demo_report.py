"""What the FL demo prints: timed steps, progress bars, verification lines.

Kept apart from the round itself (:mod:`sealpack.demo`): this module only
measures and reports; it never touches keys or blobs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from sealpack.exchange.peer import Message

__all__ = [
    "EXPECTED_REASONS",
    "MB",
    "DemoReport",
    "ProgressBar",
    "mb_text",
    "print_verification",
    "progress_bar",
    "timed_step",
]

MB = 1 << 20
# The quarantine reasons the two attacks must end with (the replay look-up runs before
# X3DH, so a replayed blob is "replayed" even when it used a one-time prekey).
EXPECTED_REASONS = ["replayed", "tampered"]


@dataclass
class DemoReport:
    """What the demo did, for tests and the summary."""

    steps: list[tuple[str, float, int]] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    max_abs_error: float = float("nan")

    def attacks_refused(self) -> bool:
        """Tell whether exactly the replayed and the tampered update were quarantined.

        Returns:
            True for exactly the reasons ``replayed`` and ``tampered``.
        """
        return sorted(self.quarantined) == EXPECTED_REASONS


class ProgressBar:
    """A plain-text progress bar on stderr (one line, redrawn with ``\\r``)."""

    def __init__(self, label: str, total: int, out: TextIO | None = None) -> None:
        """Start a bar.

        Args:
            label: shown before the bar.
            total: the byte count that means 100 %.
            out: where to draw; stderr when None.
        """
        self.label, self.total = label, max(total, 1)
        self.out = out or sys.stderr
        # A terminal gets a smooth bar; a log file only a few redraws.
        self._step = 1 if self.out.isatty() else 25
        self._shown = -1

    def update(self, done: int) -> None:
        """Redraw when the percentage changed.

        Args:
            done: bytes done of the bar's total.
        """
        percent = min(100, done * 100 // self.total)
        percent -= percent % self._step
        if percent != self._shown:
            self._shown = percent
            filled = percent * 30 // 100
            bar = "#" * filled + "-" * (30 - filled)
            self.out.write(f"\r  {self.label:<28} [{bar}] {percent:3d}% of {mb_text(self.total)}")
            self.out.flush()

    def close(self) -> None:
        """Finish the line."""
        self.out.write("\n")
        self.out.flush()


def mb_text(size: int) -> str:
    """Format a byte count in MB.

    Args:
        size: bytes.

    Returns:
        E.g. ``"12.5 MB"``.
    """
    return f"{size / MB:.1f} MB"


@contextmanager
def timed_step(report: DemoReport, label: str, size: int) -> Iterator[None]:
    """Time the body, record it in ``report`` and print one line (seconds, MB/s).

    Args:
        report: where the step is recorded.
        label: the step's name.
        size: bytes the step handled (0: no rate shown).

    Yields:
        Nothing; the body is the step.
    """
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    report.steps.append((label, seconds, size))
    rate = f"{size / MB / seconds:8.1f} MB/s" if size and seconds > 0 else ""
    print(f"  {label:<40} {seconds:7.2f} s  {mb_text(size):>10}  {rate}", flush=True)


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A bar over one or several payloads, fed ``(done, payload_total)`` per chunk.

    Args:
        label: the bar's label.
        total: bytes of all payloads together.

    Yields:
        The progress callback.
    """
    bar = ProgressBar(label, total)
    finished = [0]

    def update(done: int, payload_total: int) -> None:
        bar.update(finished[0] + done)
        if done >= payload_total:
            finished[0] += payload_total

    try:
        yield update
    finally:
        bar.close()


def print_verification(message: Message) -> None:
    """Print one line per verified message: the signed sender and metadata.

    Args:
        message: the verified message.
    """
    contact = " (first contact: pinned)" if message.first_contact else ""
    print(f"    verified: sender={message.sender}{contact} metadata={dict(message.metadata)}")
