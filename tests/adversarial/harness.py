"""The hostile-input harness: run one case under a time bound and watch what it does.

``reject(call)`` runs ``call()`` and requires that it raises a SealpackError subclass
(a TamperedError with its one fixed message), within ``CASE_SECONDS``, without
importing a module, without opening a file for writing and without any audited
dangerous operation (``os.system``, ``subprocess.Popen``, ``exec``, ``pickle.find_class``,
``ctypes.dlopen``). ``tolerate(call)`` allows a returned value as well (codec frames
carry no integrity, so a flipped float bit decodes to another float).

One process-wide audit hook is installed on first use; it only records while a case
runs, so the rest of the suite pays a single flag test per audited event.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sealpack import errors

CASE_SECONDS = 10.0
"""Wall-clock bound of one hostile case (generous: CI has 2 shared cores)."""

_DANGEROUS = frozenset(
    {
        "import",
        "exec",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "subprocess.Popen",
        "pickle.find_class",
        "ctypes.dlopen",
        "marshal.loads",
    }
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class _Recorder:
    active = False
    thread: int | None = None
    events: list[tuple[str, tuple[Any, ...]]] = []


def _writes(args: tuple[Any, ...]) -> bool:
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else 0
    if isinstance(mode, str):
        return any(letter in mode for letter in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _Recorder.active or threading.get_ident() != _Recorder.thread:
        return
    if event in _DANGEROUS or (event == "open" and _writes(args)):
        _Recorder.events.append((event, tuple(repr(a)[:80] for a in args)))


_installed = False


def _install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


class CaseTimeout(BaseException):
    """A hostile case ran longer than its bound (BaseException: nothing may catch it)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise CaseTimeout(f"hostile case exceeded {CASE_SECONDS} s")


@contextmanager
def watched(seconds: float = CASE_SECONDS) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Run the body with the audit recorder on and a wall-clock alarm armed.

    Yields:
        The list of suspicious events recorded (checked by the caller after the body).
    """
    _install()
    modules_before = set(sys.modules)
    use_alarm = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if use_alarm else None
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    _Recorder.events = []
    _Recorder.thread = threading.get_ident()
    _Recorder.active = True
    try:
        yield _Recorder.events
    finally:
        _Recorder.active = False
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    new_modules = set(sys.modules) - modules_before
    assert not new_modules, f"hostile input caused imports: {sorted(new_modules)[:5]}"


def _check_events(events: list[tuple[str, tuple[Any, ...]]]) -> None:
    assert not events, f"hostile input caused audited operations: {events[:3]}"


def reject(call: Callable[[], object], *expected: type[errors.SealpackError]) -> Exception:
    """Require ``call()`` to fail with a SealpackError (one of ``expected`` if given).

    Returns:
        The exception raised.
    """
    allowed: tuple[type[Exception], ...] = expected or (errors.SealpackError,)
    start = time.perf_counter()
    with watched() as events:
        try:
            result = call()
        except errors.SealpackError as error:
            caught: Exception = error
        else:
            pytest.fail(f"hostile input was accepted and returned {type(result).__name__}")
    _check_events(events)
    assert time.perf_counter() - start < CASE_SECONDS
    assert isinstance(caught, allowed), f"{type(caught).__name__}: {caught}"
    if isinstance(caught, errors.TamperedError):
        assert str(caught) == errors.TamperedError.MESSAGE
    return caught


def tolerate(call: Callable[[], object]) -> object:
    """Allow ``call()`` to return or to fail with a SealpackError; anything else fails.

    Returns:
        The value returned, or the SealpackError raised.
    """
    with watched() as events:
        try:
            outcome: object = call()
        except errors.SealpackError as error:
            outcome = error
    _check_events(events)
    return outcome
