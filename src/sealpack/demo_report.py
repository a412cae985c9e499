"""What the FL demo prints: timed steps, progress bars (sealpack.progress), verification lines.

Kept apart from the round itself (:mod:`sealpack.demo`): this module only
measures and reports; it never touches keys or blobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from sealpack.exchange.peer import Message
from sealpack.progress import ProgressCallback, progress_bar

__all__ = [
    "EXPECTED_REASONS",
    "MB",
    "DemoReport",
    "mb_text",
    "print_verification",
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
    quiet: bool = False

    def progress(self, label: str, total: int) -> AbstractContextManager[ProgressCallback]:
        """A progress bar for one step (nothing unless stderr is a terminal, or quiet).

        Args:
            label: the bar's label.
            total: bytes of all payloads the step handles.

        Returns:
            A context manager yielding the progress callback.
        """
        return progress_bar(label, total, quiet=self.quiet)

    def attacks_refused(self) -> bool:
        """Tell whether exactly the replayed and the tampered update were quarantined.

        Returns:
            True for exactly the reasons ``replayed`` and ``tampered``.
        """
        return sorted(self.quarantined) == EXPECTED_REASONS


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


def print_verification(message: Message) -> None:
    """Print one line per verified message: the signed sender and metadata.

    Args:
        message: the verified message.
    """
    contact = " (first contact: pinned)" if message.first_contact else ""
    print(f"    verified: sender={message.sender}{contact} metadata={dict(message.metadata)}")
