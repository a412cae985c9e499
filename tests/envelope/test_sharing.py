"""envelope.sharing: the segmented writer's passes shared by two or three threads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from sealpack.envelope import sharing

RING = 4


class _Recorder:
    """Passes that check the order and the ring rules as they run."""

    def __init__(self, segments: int, *, fail: tuple[str, int] | None = None) -> None:
        self.segments = segments
        self.fail = fail
        self.lock = threading.Lock()
        self.hashed: list[int] = []
        self.emitted: list[int] = []
        self.filled: list[int] = []
        self.threads: Counter[str] = Counter()
        self.violations: list[str] = []
        self.slot_owner: dict[int, int] = {}  # ring slot -> segment whose bytes it holds

    def _check_failure(self, kind: str, s: int) -> None:
        if self.fail == (kind, s):
            raise RuntimeError(f"{kind} {s} failed")

    def fill(self, s: int, staging: bytearray) -> int:
        self._check_failure("fill", s)
        with self.lock:
            previous = self.slot_owner.get(s % RING)
            released = previous in self.hashed and previous in self.emitted
            if previous is not None and not released:
                self.violations.append(f"slot of {previous} reused by {s} too early")
            self.slot_owner[s % RING] = s
            self.filled.append(s)
            self.threads[threading.current_thread().name] += 1
        time.sleep(0.0002)
        return 10

    def _read(self, kind: str, s: int, done: list[int]) -> None:
        self._check_failure(kind, s)
        with self.lock:
            if s not in self.filled or self.slot_owner.get(s % RING) != s:
                self.violations.append(f"{kind} {s} before its fill")
            if done != list(range(s)):
                self.violations.append(f"{kind} {s} out of order after {done[-3:]}")
        time.sleep(0.0002)
        with self.lock:
            done.append(s)
            self.threads[threading.current_thread().name] += 1

    def hash(self, s: int) -> None:
        self._read("hash", s, self.hashed)

    def emit(self, s: int) -> None:
        self._read("emit", s, self.emitted)

    def work(self) -> sharing.Work:
        return sharing.Work(self.segments, RING, self.fill, self.hash, self.emit)


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sealpack-seal"]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("segments", [1, 3, 4, 5, 37])
def test_every_segment_once_in_order_and_no_buffer_reused_early(
    threads: int, segments: int
) -> None:
    recorder = _Recorder(segments)
    reports: list[int] = []
    sharing.run(recorder.work(), threads, reports.append)
    assert recorder.violations == []
    assert sorted(recorder.filled) == list(range(segments))
    assert recorder.hashed == recorder.emitted == list(range(segments))
    # Only the caller reports, whenever it sees more filled (the helper may fill all).
    assert reports == sorted(set(reports)) and all(0 < r <= 10 * segments for r in reports)
    assert set(recorder.threads) <= {"MainThread", "sealpack-seal"}
    assert not _helpers()


def test_two_threads_means_one_helper() -> None:
    seen: list[int] = []
    recorder = _Recorder(12)
    original = recorder.fill

    def fill(s: int, staging: bytearray) -> int:
        seen.append(len(_helpers()))
        return original(s, staging)

    sharing.run(sharing.Work(12, RING, fill, recorder.hash, recorder.emit), 2)
    assert max(seen) == 1
    assert recorder.hashed == list(range(12))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["fill", "hash", "emit"])
@pytest.mark.parametrize("at", [0, 5, 19])
def test_an_error_in_any_pass_stops_all_and_is_raised(threads: int, kind: str, at: int) -> None:
    recorder = _Recorder(20, fail=(kind, at))
    with pytest.raises(RuntimeError, match=f"{kind} {at} failed"):
        sharing.run(recorder.work(), threads)
    assert not _helpers()
    assert recorder.violations == []
    # No pass goes past the failed segment, and fills stay one ring ahead of it.
    assert len(recorder.filled) <= at + RING
    assert max(recorder.hashed + recorder.emitted, default=-1) < at + RING
    if kind != "fill":
        assert at not in getattr(recorder, "hashed" if kind == "hash" else "emitted")


def test_an_error_in_the_report_is_raised_after_the_helpers_end() -> None:
    def report(done: int) -> None:
        if done >= 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sharing.run(_Recorder(30).work(), 3, report)
    assert not _helpers()


def test_no_thread_to_spare_the_caller_does_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    recorder = _Recorder(9)
    sharing.run(recorder.work(), 3)
    assert recorder.hashed == recorder.emitted == list(range(9))
    assert set(recorder.threads) == {"MainThread"}


def test_no_progress_is_reported_after_another_thread_failed() -> None:
    """The caller reported its fill after a helper's pass had already failed: progress
    for a seal that was about to raise."""
    failed, caller_filling = threading.Event(), threading.Event()
    reports: list[int] = []
    caller = threading.get_ident()

    def fill(s: int, staging: bytearray) -> int:
        if threading.get_ident() == caller:
            caller_filling.set()
            assert failed.wait(5)
            time.sleep(0.1)  # the helper's failure is on the board by now
            return 10
        assert caller_filling.wait(5)
        failed.set()
        raise RuntimeError("helper fill failed")

    work = sharing.Work(8, RING, fill, lambda s: None, lambda s: None)
    with pytest.raises(RuntimeError, match="helper fill failed"):
        sharing.run(work, 2, reports.append)
    assert reports == []
    assert not _helpers()


@pytest.mark.parametrize(("segments", "ring"), [(3, 0), (-1, 4)])
def test_a_ring_without_buffers_is_refused_not_a_hang(segments: int, ring: int) -> None:
    with pytest.raises(ValueError, match="at least one buffer"):
        sharing.Work(segments, ring, lambda s, b: 0, lambda s: None, lambda s: None)
