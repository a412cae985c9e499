"""The segmented writer's three kinds of work, shared by two or three threads.

``seal_to`` has three passes over every segment of the payload: encrypt it into a ring
buffer (*fill*), feed it to the payload hasher (*hash*, in segment order) and write it
(*emit*, in segment order). The first version gave each pass a thread of its own. On a
2-core machine that is three threads for two cores, and a trace of 256 MiB showed a
fifth of the time with one pass running and one core idle: fixed roles wait on each
other (hash on fill, fill on a free buffer) and are not always the thread scheduled.
Here every thread
takes whatever work is ready next, so two threads keep both cores busy (256 MiB, this
2-core VM, one process, rounds interleaved: median 0.095 s -> 0.076 s to an open
file, 0.099 s -> 0.091 s to a path; docs/PERFORMANCE.md).

Which work a thread takes (under one condition):

1. the next segment to hash or to write, when it is filled and nobody else is already
   hashing (or writing): the pass that is further behind first;
2. otherwise the next segment to fill, once the ring buffer it will use is free (the
   segment ``ring`` places before it is both hashed and written);
3. otherwise it waits until another thread finishes something.

Hash and emit stay in order (one thread at a time each), and a segment's buffer is
reused only after both read it, so the bytes written are those of ``seal()`` whatever
the thread count. An error in any pass stops every thread at its next pick; the
caller joins them and raises the first error. Only the calling thread reports progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MAX_THREADS", "Work", "run"]

MAX_THREADS = 3
"""One thread per kind of work at most: with more, fills would only queue for the ring."""


@dataclass(frozen=True)
class Work:
    """The passes over ``segments`` segments that share a ring of ``ring`` buffers.

    ``fill(s, staging)`` encrypts segment ``s`` (``staging`` is the thread's own
    scratch buffer) and returns its plaintext bytes; ``hash(s)`` and ``emit(s)`` read it.
    """

    segments: int
    ring: int
    fill: Callable[[int, bytearray], int]
    hash: Callable[[int], None]
    emit: Callable[[int], None]

    def __post_init__(self) -> None:
        if self.ring < 1 or self.segments < 0:
            raise ValueError("a ring of at least one buffer and a segment count >= 0")


_Task = tuple[str, int]


class _Board:
    """What is done and what is taken, under one condition; ``error`` stops everyone."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.cond = threading.Condition()
        self.claimed = self.hashed = self.written = self.plain_done = 0
        self.filled = [False] * work.segments
        self.hashing = self.writing = False
        self.error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()

    def take(self) -> _Task | None:
        """The next task for this thread (waiting for one), or None when all is done
        or an error stopped the work."""
        with self.cond:
            while (task := self._ready()) is None:
                if self.error is not None or self._finished():
                    return None
                self.cond.wait()
            kind = task[0]
            if kind == "hash":
                self.hashing = True
            elif kind == "emit":
                self.writing = True
            else:
                self.claimed += 1
            return task

    def _finished(self) -> bool:
        return self.hashed >= self.work.segments and self.written >= self.work.segments

    def _ready(self) -> _Task | None:
        if self.error is not None:
            return None
        segments = self.work.segments
        can_hash = not self.hashing and self.hashed < segments and self.filled[self.hashed]
        can_emit = not self.writing and self.written < segments and self.filled[self.written]
        if can_hash and (not can_emit or self.hashed <= self.written):
            return ("hash", self.hashed)
        if can_emit:
            return ("emit", self.written)
        slot_free = min(self.hashed, self.written) > self.claimed - self.work.ring
        if self.claimed < segments and slot_free:
            return ("fill", self.claimed)
        return None

    def finish(self, task: _Task, plain: int = 0) -> int:
        """Record ``task`` as done; the plaintext bytes filled so far."""
        kind, s = task
        with self.cond:
            if kind == "hash":
                self.hashed, self.hashing = s + 1, False
            elif kind == "emit":
                self.written, self.writing = s + 1, False
            else:
                self.filled[s] = True
                self.plain_done += plain
            self.cond.notify_all()
            return self.plain_done


def _work_loop(board: _Board, report: Callable[[int], None] | None) -> None:
    staging = bytearray()  # grown to one chunk only for chunks that span buffers
    work, reported = board.work, 0
    while (task := board.take()) is not None:
        kind, s = task
        plain = 0
        if kind == "fill":
            plain = work.fill(s, staging)
        elif kind == "hash":
            work.hash(s)
        else:
            work.emit(s)
        done = board.finish(task, plain)
        if report is not None and done > reported and board.error is None:
            report(done)  # the fills of every thread, as seen here; never after an error
            reported = done


def _guarded(board: _Board) -> Callable[[], None]:
    def run_worker() -> None:
        try:
            _work_loop(board, None)
        except BaseException as error:  # handed to the caller's thread
            board.fail(error)

    return run_worker


def run(work: Work, threads: int, report: Callable[[int], None] | None = None) -> None:
    """Do every pass of ``work`` on the calling thread and ``threads - 1`` helpers.

    Args:
        work: the segments, the ring size and the three passes.
        threads: threads in all, the caller included (clamped to 1..MAX_THREADS).
        report: called in this thread with the plaintext bytes filled so far.

    Raises:
        The first error of any pass or of ``report``, after every helper ended.
    """
    board = _Board(work)
    helpers = [
        threading.Thread(target=_guarded(board), name="sealpack-seal")
        for _ in range(max(1, min(threads, MAX_THREADS)) - 1)
    ]
    started: list[threading.Thread] = []
    try:
        for helper in helpers:
            try:
                helper.start()
            except RuntimeError:  # no thread to spare: the started ones do it all
                break
            started.append(helper)
        _work_loop(board, report)
    except BaseException as error:
        board.fail(error)
    finally:
        for helper in started:
            helper.join()
    _raise_without_cycle(board)


def _raise_without_cycle(board: _Board) -> None:
    """Raise the board's error, if any, keeping no reference to it here.

    The traceback holds the frames it passes through; a frame that still names the
    exception (``board.error``, a local) makes a cycle, and the ring and the caller's
    buffers (memoryviews: a bytearray payload could not be resized) would live until
    a GC pass.
    """
    failure, board.error = board.error, None
    if failure is None:
        return
    try:
        raise failure
    finally:
        del failure
