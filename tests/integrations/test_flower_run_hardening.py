"""No single node, relay or storage failure stops a sealed Flower run (issues 19.12, 19.17, 10.5).

A real SealedGrid over flower_fakes.FakeGrid with real sealed ClientApps, as in the
refusal tests; each test is an attack (or failure) that stopped a whole round before.
More: nodes without post-quantum prekeys in test_flower_classical_nodes.py, nodes whose
hello answers are refused in test_flower_hellos.py.
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from sealpack import errors
from sealpack.api import inspect
from sealpack.integrations.flower import broadcast, replies
from sealpack.integrations.flower.errors import FlowerConfigError
from sealpack.integrations.flower.server import SealedGrid
from sealpack.integrations.flower.wire import unwrap_blob
from sealpack.keys import Identity
from tests.integrations.flower_fakes import FakeClock
from tests.integrations.flower_harness import (
    NODES,
    Federation,
    assert_accepted,
    assert_refused,
    build_federation,
    by_node,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py


def _short_lived(name: str, seconds: int) -> Identity:
    """An identity whose signed prekey expires ``seconds`` from now (a node's own choice)."""
    return Identity.generate(name, one_time_prekeys=8, signed_prekey_lifetime=seconds)


# --- 19.12: an expiring bundle never aborts a round ---------------------------------------


def test_hello_bundle_expiring_within_the_horizon_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node choosing a 30-second signed prekey would break every later broadcast."""
    fed = build_federation(tmp_path, monkeypatch, identities={12: _short_lived("client-12", 30)})
    got = by_node(train(fed, 1))
    assert 12 not in fed.sealed.bound_nodes
    assert (12, "RefusedMessageError") in fed.sealed.refused
    assert fed.grid.pushed_to(12) == []
    for node in (11, 13):
        assert_accepted(got[node][0], node)


def test_the_horizon_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identities = {12: _short_lived("client-12", 30)}
    fed = build_federation(
        tmp_path, monkeypatch, identities=identities, min_bundle_validity=20, rehandshake_margin=5
    )
    assert_accepted(by_node(train(fed, 1))[12][0], 12)


@pytest.mark.filterwarnings("ignore:the signed prekey of key store")
def test_node_whose_bundle_is_about_to_expire_is_handshaken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(time.time())
    month = 30 * 86400  # the node's rotation policy; its current prekey has 2 hours left
    aged = Identity.generate("client-12", one_time_prekeys=8, now=int(time.time()) + 7200 - month)
    fed = build_federation(
        tmp_path, monkeypatch, identities={12: aged}, clock=clock.time, sessions=False
    )  # sealed broadcasts (with sessions, round 2 is tickets: test_flower_tickets.py)
    train(fed, 1)
    first = fed.sealed._bound[12].signed_prekey.id
    clock.now += 7200 - 500  # node 12's bundle now expires within the 600 s margin
    got = by_node(train(fed, 2))
    hellos = [e.nodes for e in fed.sealed.events if e.kind == "hello"]
    assert sorted(hellos) == [(11,), (12,), (12,), (13,)]  # only node 12 again
    # The node rotated its signed prekey when the hello asked for a longer validity:
    assert fed.sealed._bound[12].signed_prekey.id != first
    assert_accepted(got[12][0], 12)
    (blob, _) = unwrap_blob(fed.grid.pushed_to(12)[-1].content, kind="instruction")
    stanzas = {r.signed_prekey_id for r in inspect(blob).recipients}
    assert fed.sealed._bound[12].signed_prekey.id in stanzas


@pytest.mark.parametrize("failure", ["expired-bundle", "seal-refuses-one-recipient"])
def test_one_recipient_that_cannot_be_sealed_to_does_not_fail_the_group(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Before: seal raised for the whole group and the broadcast was lost for every node."""
    train(fed, 1)
    if failure == "expired-bundle":  # the bound bundle has expired since the handshake
        past = int(time.time()) - 3600
        stale = Identity.generate("client-12", now=past, signed_prekey_lifetime=60)
        fed.sealed._bound[12] = stale.bundle()
    else:
        real_seal = broadcast.seal
        victim = fed.sealed._bound[12]

        def refuse_one(obj: Any, **kwargs: Any) -> bytes:
            if victim in kwargs["recipients"]:
                raise errors.PrekeyError("signed prekey of 'client-12' has expired")
            return real_seal(obj, **kwargs)

        monkeypatch.setattr(broadcast, "seal", refuse_one)
        fed.sealed._sessions.enabled = False  # a sealed broadcast (tickets: test_flower_tickets)
    got = by_node(train(fed, 2))
    assert 12 not in got
    assert (12, "PrekeyError") in fed.sealed.refused
    for node in (11, 13):
        assert_accepted(got[node][0], node)


# --- 19.17: a silent node costs one hello timeout, not one per push ------------------------


def test_silent_node_stalls_no_push_after_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(time.time())
    fed = build_federation(
        tmp_path, monkeypatch, hello_timeout=60.0, clock=clock.time, sleep=clock.sleep
    )
    fed.grid.clock = clock  # the grid, too, waits its timeout for a missing reply
    fed.grid.silent.add(13)
    for server_round in range(1, 5):
        got = by_node(train(fed, server_round))
        assert sorted(got) == [11, 12]
    assert clock.slept <= 60.0 + 1.0  # one hello timeout in all, not 4 x 60 s
    assert 13 not in fed.sealed.bound_nodes
    fed.grid.release(13)  # the node wakes up: its answer to the first hello is picked up
    got = by_node(train(fed, 5))
    assert sorted(got) == list(NODES)
    assert_accepted(got[13][0], 13)
    assert clock.slept <= 60.0 + 1.0


def test_handshake_proceeds_with_the_nodes_that_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(time.time())
    fed = build_federation(
        tmp_path, monkeypatch, hello_timeout=5.0, clock=clock.time, sleep=clock.sleep
    )
    fed.grid.silent.add(12)
    got = by_node(train(fed, 1))
    assert sorted(got) == [11, 13]
    assert sorted(fed.sealed.bound_nodes) == [11, 13]
    assert 5.0 <= clock.slept <= 6.0


# --- 10.5: a reply that fails to open is a refusal for that node only ----------------------


@pytest.mark.parametrize(
    "failure",
    [
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        sqlite3.OperationalError("disk I/O error"),
        errors.KeyStoreError("the replay store cannot be written"),
        errors.ContextMismatchError("the signed metadata does not match"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_reply_that_fails_to_open_is_refused_and_the_round_goes_on(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """Before: only SealpackError was caught; a storage error aborted the server's round."""
    real_open = replies.open_bound
    victim = fed.client_bundles[12].identity_key

    def failing_open(blob: bytes, **kwargs: Any) -> Any:
        if kwargs["sender"].identity_key == victim:
            raise failure
        return real_open(blob, **kwargs)

    monkeypatch.setattr(replies, "open_bound", failing_open)
    got = by_node(train(fed, 1))
    assert_refused(got[12][0])
    assert got[12][0].error.reason == f"sealpack refused reply: {type(failure).__name__}"
    assert (12, type(failure).__name__) in fed.sealed.refused
    for node in (11, 13):
        assert_accepted(got[node][0], node)


@pytest.mark.parametrize(
    "options",
    [
        {"min_bundle_validity": 600, "rehandshake_margin": 600},
        {"rehandshake_margin": -1},
        {"instruction_expiry": 0},
    ],
)
def test_inconsistent_margins_are_refused(fed: Federation, options: dict[str, int]) -> None:
    with pytest.raises(FlowerConfigError):
        SealedGrid(fed.grid, keys=fed.server, trusted=list(fed.client_bundles.values()), **options)


@pytest.mark.parametrize(
    "outcome",
    [{"code": "2", "reason": "x"}, {"code": 2}, {"code": 2, "reason": "x" * 5000}, "boom"],
    ids=["code-not-int", "no-reason", "long-reason", "not-a-dict"],
)
def test_a_malformed_sealed_error_outcome_is_refused(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, outcome: object
) -> None:
    """A bound node's malformed error outcome never reaches the strategy as given."""
    from sealpack.integrations.flower import client

    monkeypatch.setattr(client, "run_app", lambda *args: {"error": outcome})
    got = by_node(train(fed, 1))
    for node in NODES:  # by the payload's typed decoding, or by the outcome's own check
        assert_refused(got[node][0])
        assert got[node][0].error.reason.rsplit(" ", 1)[1] in {"SchemaError", "RefusedMessageError"}


@pytest.mark.parametrize(
    "content",
    [
        {"records": [("m", "metrics", {"x": Decimal("1.5")})]},
        {"records": [("c", "configs", {"s": {1, 2, 3}})]},
        {"records": [["a", "arrays", []]]},
        {"records": [], "smuggled": b"x"},
    ],
    ids=["decimal", "set", "list-not-tuple", "extra-key"],
)
def test_a_reply_of_another_shape_is_refused_by_typed_decoding(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, content: object
) -> None:
    """The payload's shape is checked on the parsed frame, before anything is built."""
    from sealpack.integrations.flower import client

    monkeypatch.setattr(client, "run_app", lambda *args: {"content": content})
    got = by_node(train(fed, 1))
    for node in NODES:
        assert_refused(got[node][0], errors.SchemaError)


def test_the_server_reads_its_keys_from_its_run_config(fed: Federation, tmp_path: Path) -> None:
    from flwr.app import Context, RecordDict

    from tests.integrations.flower_fakes import PASSPHRASE_ENV, RUN_ID

    trusted = tmp_path / "trusted"
    trusted.mkdir()
    for node, bundle in fed.client_bundles.items():
        (trusted / f"client-{node}.json").write_text(bundle.to_json())
    config = {
        "sealpack-keystore": str(tmp_path / "server"),
        "sealpack-passphrase-env": PASSPHRASE_ENV,
        "sealpack-trusted": str(trusted),
    }
    grid = SealedGrid.from_context(fed.grid, Context(RUN_ID, 0, {}, RecordDict(), config))
    assert sorted(grid._trusted) == [f"client-{n}" for n in NODES]
    with pytest.raises(FlowerConfigError, match="run_config"):
        SealedGrid.from_context(fed.grid, Context(RUN_ID, 0, config, RecordDict(), {}))
