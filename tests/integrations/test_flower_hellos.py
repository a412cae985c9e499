"""A node whose hello answers are refused stalls no push (issue 19.17, continued).

A real SealedGrid over flower_fakes.FakeGrid with real sealed ClientApps and an injected
clock (no real waiting). A node that answers its hello late and unusably, like one that
never answers (test_flower_run_hardening.py), costs at most one ``hello_timeout`` per
``hello_retry``, never one per push.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from flwr.app import Context, Error, Message
from flwr.common.constant import ErrorCode

from sealpack.integrations.flower.client import HELLO_MESSAGE_TYPE
from sealpack.keys import Identity
from tests.integrations.flower_fakes import FakeClock
from tests.integrations.flower_harness import (
    Federation,
    assert_accepted,
    build_federation,
    by_node,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


def _hellos_to(fed: Federation, node: int) -> list[Message]:
    return fed.grid.pushed_to(node, HELLO_MESSAGE_TYPE)


def _refuse_hello(message: Message, context: Context) -> Message:
    """An unusable hello answer (any refused answer: an error, a bad blob, a bad bundle)."""
    return Message(Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, "no"), reply_to=message)


def test_a_node_answering_every_hello_late_and_badly_stalls_no_push(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: node 13 answers each hello 50 s late and unusably. Before: a refused answer
    left nothing behind, so every push sent it a new hello and waited for it again, 50 s
    of stall per push for every honest node. Now its next hello goes out only
    ``hello_retry`` after the last one, and then it may still bind."""
    clock = FakeClock(time.time())
    waited = [0.0]

    def sleep(seconds: float) -> None:  # node 13 answers 50 s after each hello
        clock.sleep(seconds)
        waited[0] += seconds
        if 13 in fed.grid.silent and waited[0] >= 50.0:
            fed.grid.release(13)

    fed = build_federation(tmp_path, monkeypatch, hello_timeout=60.0, clock=clock.time, sleep=sleep)
    fed.grid.clock = clock
    fed.nodes[13].hello = _refuse_hello
    for server_round in range(1, 5):
        fed.grid.silent.add(13)
        waited[0] = 0.0
        got = by_node(train(fed, server_round))
        assert sorted(got) == [11, 12]
    assert 50.0 <= clock.slept <= 60.0 + 1.0  # one late answer in all, not 4 x 50 s
    assert len(_hellos_to(fed, 13)) == 1 and (13, "HelloError") in fed.sealed.refused
    fed.grid.silent.discard(13)
    fed.nodes[13].hello = None  # it answers properly from now on
    clock.now += 600.0  # the default hello_retry
    got = by_node(train(fed, 5))
    assert len(_hellos_to(fed, 13)) == 2
    assert_accepted(got[13][0], 13)


@pytest.mark.filterwarnings("ignore:the signed prekey of key store")
def test_a_bound_node_whose_rehandshake_is_refused_is_asked_again_only_after_hello_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a bound node due for a new handshake (its bundle about to expire) whose
    answer was refused got a new hello, and could stall the push, on every push."""
    clock = FakeClock(time.time())
    month = 30 * 86400  # the node's rotation policy; its current prekey has 2 hours left
    aged = Identity.generate("client-12", one_time_prekeys=8, now=int(time.time()) + 7200 - month)
    fed = build_federation(
        tmp_path, monkeypatch, identities={12: aged}, clock=clock.time, sleep=clock.sleep
    )
    train(fed, 1)
    first = fed.sealed._bound[12]
    clock.now += 7200 - 500  # node 12's bundle now expires within the 600 s margin
    fed.nodes[12].hello = _refuse_hello
    for server_round in (2, 3, 4):
        got = by_node(train(fed, server_round))
        assert_accepted(got[12][0], 12)  # still bound to its old bundle, valid 500 s more
        clock.now += 100.0
    assert len(_hellos_to(fed, 12)) == 2  # the first, then one re-handshake in 300 s
    assert fed.sealed._bound[12] is first and (12, "HelloError") in fed.sealed.refused
    fed.nodes[12].hello = None
    clock.now += 300.0  # hello_retry after the refused one (its old bundle has expired)
    got = by_node(train(fed, 5))
    assert len(_hellos_to(fed, 12)) == 3
    assert fed.sealed._bound[12] is not first
    assert_accepted(got[12][0], 12)
