"""Random schedules of sends and late, reordered, duplicated deliveries: every message
opens exactly once, every duplicate is a ReplayError, nothing is lost or mixed up."""

from __future__ import annotations

import random

import pytest

from sealpack import errors
from tests.session.conftest import established


@pytest.mark.parametrize("seed", range(6))
def test_random_schedule_opens_each_message_exactly_once(pair, seed):
    alice, bob = pair
    sa, sb = established(alice, bob, alice.bundle(), bob.bundle())
    rand = random.Random(seed)
    sides = {"a": (sa, sb), "b": (sb, sa)}
    in_flight: list[tuple[str, int, bytes]] = []
    opened: dict[tuple[str, int], int] = {}
    sent = replays = 0
    for _ in range(160):
        if not in_flight and sent >= 60:
            break
        if sent < 60 and (not in_flight or rand.random() < 0.45):
            who = rand.choice("ab")
            in_flight.append((who, sent, sides[who][0].seal((who, sent))))
            sent += 1
            continue
        index = rand.randrange(len(in_flight))
        who, number, message = in_flight[index]
        if rand.random() < 0.8:
            in_flight.pop(index)  # else: delivered now and again later (duplicate)
        receiver = sides[who][1]
        key = (who, number)
        if key in opened:
            with pytest.raises(errors.ReplayError):
                receiver.open(message)
            replays += 1
        else:
            assert receiver.open(message) == (who, number)
            opened[key] = 1
    for who, number, message in in_flight:  # the stragglers, very late
        receiver = sides[who][1]
        if (who, number) in opened:
            with pytest.raises(errors.ReplayError):
                receiver.open(message)
        else:
            assert receiver.open(message) == (who, number)
            opened[(who, number)] = 1
    assert len(opened) == sent == 60 and replays > 0
