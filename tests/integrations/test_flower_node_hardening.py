"""What a ClientApp node keeps to itself and what it refuses (issues 19.13-19.16, 10.2, 10.11).

Real sealed ClientApps (the sealpack mod inside Flower's ClientApp) over
flower_fakes.FakeGrid; the test plays the relay, the SuperLink's run config, or the
node's own failing app.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode

from sealpack import errors
from sealpack.api import inspect
from sealpack.integrations.flower.client import SealpackClientMod, sealed_client_app
from sealpack.integrations.flower.client_keys import close_all
from sealpack.integrations.flower.errors import (
    FlowerConfigError,
    RefusedMessageError,
    StaleInstructionError,
)
from sealpack.integrations.flower.handshake import hello_message
from sealpack.integrations.flower.server import SealedGrid
from sealpack.integrations.flower.wire import unwrap_blob
from sealpack.keys import Identity, KeyStore
from tests.integrations.flower_fakes import (
    PASSPHRASE_ENV,
    RUN_ID,
    create_store,
    wire_bytes,
    with_metadata,
)
from tests.integrations.flower_harness import (
    NODES,
    Federation,
    assert_accepted,
    build_federation,
    by_node,
    train,
)

pytestmark = pytest.mark.usefixtures("flower_env")  # fixtures: tests/integrations/conftest.py

SECRET = "patient-MRN-5521873"


def _held_instruction(fed: Federation, node: int = 12, server_round: int = 1) -> Message:
    """A genuine sealed instruction for ``node`` that the relay has not delivered yet."""
    fed.grid.held.add(node)
    train(fed, server_round)
    fed.grid.held.discard(node)
    return fed.grid.pushed_to(node)[-1]


# --- 19.13: what the ClientApp raises stays on the node -----------------------------------


def test_client_app_exception_never_leaves_the_node_in_plaintext(fed: Federation) -> None:
    """Before: Flower's error reply carried str(exception) through the relay in the clear."""
    fed.nodes[12].fail = KeyError(SECRET)
    got = by_node(train(fed, 1))
    wire = b"".join(wire_bytes(m) for m in fed.grid.replied)
    assert SECRET.encode() not in wire
    assert b"KeyError" not in wire  # not even the type: the error is sealed like a reply
    reply = got[12][0]
    assert reply.has_error() and not reply.has_content()
    assert reply.error.code == ErrorCode.CLIENT_APP_RAISED_EXCEPTION
    assert "KeyError" in reply.error.reason
    assert SECRET not in reply.error.reason  # the server gets the type only, by default
    for node in (11, 13):
        assert_accepted(got[node][0], node)


def test_exception_details_are_sealed_to_the_server_when_asked(fed: Federation) -> None:
    node = fed.nodes[12]
    node.mod_options = {"error_details": True}
    node.__post_init__()
    node.fail = KeyError(SECRET)
    reply = by_node(train(fed, 1))[12][0]
    assert SECRET in reply.error.reason  # the server reads it ...
    assert SECRET.encode() not in b"".join(
        wire_bytes(m) for m in fed.grid.replied
    )  # ... no one else


def test_an_error_reply_of_the_app_is_sealed_too(fed: Federation) -> None:
    node = fed.nodes[12]
    app = sealed_client_app(mod=SealpackClientMod(
        keystore=str(node.keystore), server_bundle=str(node.server_bundle),
        passphrase_env=PASSPHRASE_ENV,
    ))  # fmt: skip

    @app.train()
    def _refuse(message: Message, context: Context) -> Message:
        return Message(Error(code=5, reason=f"no consent for {SECRET}"), reply_to=message)

    node.app = app
    reply = by_node(train(fed, 1))[12][0]
    assert reply.has_error() and reply.error.code == 5
    assert SECRET not in reply.error.reason
    assert SECRET.encode() not in b"".join(wire_bytes(m) for m in fed.grid.replied)


# --- 19.14: trust anchors never come from the run config -----------------------------------


def _hello_from(server: Identity, node: int = 12) -> Message:
    return hello_message(node, b"c" * 32, server.bundle().to_json(), 0)


def test_run_config_never_supplies_trust_anchors(fed: Federation, tmp_path: Path) -> None:
    """Before: the run config (from the SuperLink) overrode the pins given in code."""
    impostor = create_store(tmp_path / "evil-server", "server")  # the pinned name, other keys
    (tmp_path / "evil.json").write_text(impostor.identity.bundle().to_json())
    create_store(tmp_path / "evil-client", "client-12").close()
    run_config = {
        "sealpack-server-bundle": str(tmp_path / "evil.json"),
        "sealpack-keystore": str(tmp_path / "evil-client"),
    }
    node = fed.nodes[12]
    node.context = Context(RUN_ID, 12, {"partition-id": 12}, RecordDict(), run_config)
    assert node.handle(_hello_from(impostor.identity)).has_error()
    assert isinstance(node.raised[-1], RefusedMessageError)
    genuine = node.handle(_hello_from(fed.server.identity))  # control: the pinned server
    assert not genuine.has_error()
    impostor.close()


def test_node_config_supplies_keys_when_no_argument_does(fed: Federation, tmp_path: Path) -> None:
    node = fed.nodes[12]
    settings = {
        "sealpack-server-bundle": str(node.server_bundle),
        "sealpack-keystore": str(node.keystore),
        "sealpack-passphrase-env": PASSPHRASE_ENV,
    }
    app = sealed_client_app(mod=SealpackClientMod())
    hello = _hello_from(fed.server.identity)
    in_run_config = Context(RUN_ID, 12, {}, RecordDict(), settings)
    with pytest.raises(FlowerConfigError, match="node_config"):
        app(hello, in_run_config)
    in_node_config = Context(RUN_ID, 12, settings, RecordDict(), {})
    assert unwrap_blob(app(hello, in_node_config).content, kind="hello")[1] == "client-12"


# --- 19.15: replies go to the fresh server bundle proven by the server ---------------------


def test_replies_go_to_the_fresh_server_bundle_when_the_pin_file_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the nodes sealed to the pin file; once its prekey expired every reply failed."""
    made = int(time.time()) - 3600
    old = Identity.generate("server", one_time_prekeys=8, now=made, signed_prekey_lifetime=1800)
    fed = build_federation(tmp_path, monkeypatch, server_identity=old)  # pin file: expired
    fed.server.identity.rotate_signed_prekey()  # the server rotated since the pin was made
    current = fed.server.identity.bundle().signed_prekey.id
    got = by_node(train(fed, 1))
    for node in NODES:
        assert_accepted(got[node][0], node)
    for reply in fed.grid.replied:
        if reply.metadata.message_type == "train":
            blob, _ = unwrap_blob(reply.content, kind="reply")
            assert [r.signed_prekey_id for r in inspect(blob).recipients] == [current]


# --- 19.16 and 10.2: instructions bound to what the node has seen ---------------------------


def test_instruction_held_back_and_delivered_after_a_newer_one_is_refused(
    fed: Federation,
) -> None:
    """Before: a relay could deliver round 1 after round 2 and the node trained on it."""
    late = _held_instruction(fed, 12, server_round=1)
    train(fed, 2)
    node = fed.nodes[12]
    assert len(node.seen) == 1  # round 2
    for restart in (False, True):
        if restart:
            close_all()  # the node's process ends; its marks are on disk
        assert node.handle(late).has_error()
        assert isinstance(node.raised[-1], errors.ContextMismatchError)
        assert isinstance(node.raised[-1].__cause__, StaleInstructionError)
        assert len(node.seen) == 1


def test_instruction_delivered_in_order_after_a_delay_still_opens(fed: Federation) -> None:
    late = _held_instruction(fed, 12, server_round=1)  # nothing newer reached the node
    assert not fed.nodes[12].handle(late).has_error()
    assert len(fed.nodes[12].seen) == 1


def test_instructions_and_replies_expire_within_a_round(
    fed: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every sealed message stayed valid for 7 days."""
    train(fed, 1)
    instruction = inspect(unwrap_blob(fed.grid.pushed_to(12)[0].content, kind="instruction")[0])
    assert instruction.expires - instruction.created == 3600
    reply = next(r for r in fed.grid.replied if r.metadata.message_type == "train")
    info = inspect(unwrap_blob(reply.content, kind="reply")[0])
    assert info.expires - info.created == 3600
    short = build_federation(tmp_path / "short", monkeypatch, instruction_expiry=120)
    train(short, 1)
    blob = unwrap_blob(short.grid.pushed_to(12)[0].content, kind="instruction")[0]
    assert inspect(blob).expires - inspect(blob).created == 120


@pytest.mark.parametrize(
    "changes",
    [{"group_id": "7"}, {"message_type": "evaluate"}, {"run_id": RUN_ID + 1}],
    ids=["other-round", "other-type", "other-run"],
)
def test_relay_cannot_burn_an_instruction_by_delivering_it_in_another_context(
    fed: Federation, changes: dict[str, Any]
) -> None:
    """Before: the first (wrong-context) delivery recorded the id; the right one was a replay."""
    instruction = _held_instruction(fed)
    node = fed.nodes[12]
    assert node.handle(with_metadata(instruction, **changes)).has_error()
    assert isinstance(node.raised[-1], errors.ContextMismatchError)
    assert not node.handle(instruction).has_error()
    assert len(node.seen) == 1


# --- 10.11: one key store handle per process -------------------------------------------------


@pytest.mark.parametrize("keep_open", [True, False])
def test_the_mod_opens_each_key_store_once_per_process(
    fed: Federation, monkeypatch: pytest.MonkeyPatch, keep_open: bool
) -> None:
    """Before: every message opened the store again (one scrypt derivation per message)."""
    opened: list[str] = []
    real_open = KeyStore.open.__func__  # type: ignore[attr-defined]

    def counting_open(cls: type[KeyStore], path: Any, **kwargs: Any) -> KeyStore:
        opened.append(Path(path).name)
        return real_open(cls, path, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(KeyStore, "open", classmethod(counting_open))
    for node in fed.nodes.values():
        node.mod_options = {"keep_open": keep_open}
        node.__post_init__()
    for server_round in (1, 2, 3):
        train(fed, server_round)
    messages_per_node = 1 + 3  # the hello, then one instruction per round
    expected = 1 if keep_open else messages_per_node
    assert Counter(opened) == {f"client-{n}": expected for n in NODES}


def test_a_node_handshaken_again_hands_out_its_current_bundle(fed: Federation) -> None:
    """The hello refreshes the kept handle: a rotation by another process is seen."""
    train(fed, 1)
    with KeyStore.open(fed.nodes[12].keystore, passphrase=b"flower test passphrase") as store:
        store.identity.rotate_signed_prekey()
        rotated = store.identity.bundle().signed_prekey.id
    grid = SealedGrid(fed.grid, keys=fed.server, trusted=list(fed.client_bundles.values()))
    grid.send_and_receive([Message(RecordDict(), 12, "query.x")])
    assert grid._bound[12].signed_prekey.id == rotated


def test_the_marks_never_go_backwards_under_a_race(tmp_path: Path) -> None:
    """Two processes opened instructions concurrently: the older one loses at the commit."""
    from sealpack.integrations.flower.seen import SeenInstructions

    first, second = SeenInstructions(tmp_path), SeenInstructions(tmp_path)
    assert first.last(b"s", RUN_ID) == -1
    first.advance(b"s", RUN_ID, 10)
    second.advance(b"s", RUN_ID, 10)  # the same push again (two instructions in one push)
    with pytest.raises(StaleInstructionError):
        second.advance(b"s", RUN_ID, 9)
    assert (first.last(b"s", RUN_ID), first.last(b"s", RUN_ID + 1), first.last(b"t", RUN_ID)) == (
        10,
        -1,
        -1,
    )
    first.close()
    second.close()


def test_a_public_horizon_hint_cannot_make_a_node_rotate_without_bound(fed: Federation) -> None:
    node = fed.nodes[12]
    before = KeyStore.open(node.keystore, passphrase=b"flower test passphrase")
    spk = before.identity.bundle().signed_prekey.id
    before.close()
    far = int(time.time()) + 60 * 86400  # beyond what any rotation gives: no rotation
    hello = hello_message(12, b"c" * 32, fed.server.identity.bundle().to_json(), far)
    answer = node.handle(hello)
    assert not answer.has_error()
    with KeyStore.open(node.keystore, passphrase=b"flower test passphrase") as after:
        assert after.identity.bundle().signed_prekey.id == spk
