"""The interpreter recursion limit is raised only while the codec runs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sealpack import errors
from sealpack.serialization import Codec, DecodeLimits, Decomposer
from sealpack.serialization.stack import needed_recursion_limit, stack_headroom


class Probe:
    """A value whose decomposer records the recursion limit seen during the call."""


class ProbeDecomposer(Decomposer):
    def __init__(self, seen: list[int], set_to: int | None = None) -> None:
        self.seen = seen
        self.set_to = set_to

    def supported_type(self) -> type:
        return Probe

    def decompose(self, target: Any, manager: Any = None) -> Any:
        self.seen.append(sys.getrecursionlimit())
        return 0

    def recompose(self, data: Any, manager: Any = None) -> Any:
        self.seen.append(sys.getrecursionlimit())
        if self.set_to is not None:
            sys.setrecursionlimit(self.set_to)
        return Probe()


@pytest.fixture(autouse=True)
def original_limit() -> Iterator[int]:
    before = sys.getrecursionlimit()
    yield before
    sys.setrecursionlimit(before)


def _deep(levels: int) -> Any:
    """Nested lists and tuples (msgpack itself packs at most 511 plain levels at once)."""
    value: Any = 0
    for index in range(levels):
        value = (value,) if index % 2 else [value]
    return value


def test_constructing_a_codec_leaves_the_limit_alone(original_limit: int) -> None:
    Codec(limits=DecodeLimits(max_depth=50_000))
    assert sys.getrecursionlimit() == original_limit


def test_limit_is_raised_during_encode_and_decode_and_restored_after(original_limit: int) -> None:
    seen: list[int] = []
    codec = Codec(limits=DecodeLimits(max_depth=2000))
    codec.register(ProbeDecomposer(seen))
    data = codec.dumps([Probe(), _deep(1500)])
    assert sys.getrecursionlimit() == original_limit
    restored = codec.loads(data)
    assert sys.getrecursionlimit() == original_limit
    assert type(restored[0]) is Probe
    assert seen == [needed_recursion_limit(2000)] * 2
    assert needed_recursion_limit(2000) > original_limit


def test_limit_is_restored_after_a_failed_decode(original_limit: int) -> None:
    sender, receiver = Codec(), Codec()
    sender.register(ProbeDecomposer([]))
    with pytest.raises(errors.UnknownTypeError):
        receiver.loads(sender.dumps(Probe()))
    with pytest.raises(errors.DecodeError):
        receiver.loads(b"SPKC" + bytes(60))
    with pytest.raises(errors.CycleError):
        loop: list[Any] = []
        loop.append(loop)
        sender.dumps(loop)
    assert sys.getrecursionlimit() == original_limit


def test_a_limit_changed_by_someone_else_during_a_call_is_kept() -> None:
    codec = Codec()
    codec.register(ProbeDecomposer([], set_to=12_345))
    codec.loads(codec.dumps(Probe()))
    assert sys.getrecursionlimit() == 12_345


def test_the_limit_is_never_lowered_during_a_call() -> None:
    sys.setrecursionlimit(needed_recursion_limit(256) + 500)
    seen: list[int] = []
    codec = Codec()
    codec.register(ProbeDecomposer(seen))
    codec.loads(codec.dumps(Probe()))
    assert seen == [needed_recursion_limit(256) + 500] * 2
    assert sys.getrecursionlimit() == needed_recursion_limit(256) + 500


def test_nested_headroom_blocks_restore_only_at_the_outermost(original_limit: int) -> None:
    with stack_headroom(original_limit + 100):
        with stack_headroom(original_limit + 300):
            assert sys.getrecursionlimit() == original_limit + 300
        assert sys.getrecursionlimit() == original_limit + 300  # never lowered while active
    assert sys.getrecursionlimit() == original_limit


def test_concurrent_calls_restore_the_original_limit(original_limit: int) -> None:
    codec = Codec(limits=DecodeLimits(max_depth=1200))
    data = codec.dumps(_deep(1000))
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                codec.loads(codec.dumps(codec.loads(data)))
        except BaseException as error:  # reported to the main thread
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sys.getrecursionlimit() == original_limit


def test_plain_nesting_beyond_msgpacks_own_limit_is_a_limit_error() -> None:
    value: Any = 0
    for _ in range(1500):
        value = [value]
    with pytest.raises(errors.LimitExceededError, match="msgpack"):
        Codec(limits=DecodeLimits(max_depth=2000)).dumps(value)
