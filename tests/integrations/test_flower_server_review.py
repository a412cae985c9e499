"""Flower server and node paths (review): a node's integer Flower could never carry, two
instructions of one type to one node in one push, and a server-bundle setting naming a
folder. Each test fails on the code before its fix."""

from __future__ import annotations

import pytest

pytest.importorskip("flwr")

from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict

from tests.integrations.flower_fakes import model
from tests.integrations.flower_harness import Federation, assert_accepted, by_node

pytestmark = pytest.mark.usefixtures("flower_env")


def _content(tag: int) -> RecordDict:
    return RecordDict({"arrays": ArrayRecord(model()), "config": ConfigRecord({"tag": tag})})


def test_two_instructions_of_one_type_to_one_node_in_one_push_both_answered(
    fed: Federation,
) -> None:
    """Two distinct train messages to node 11 in one push: both honest replies must be
    accepted. PendingReplies.add retires the first (same node, same type) while sealing
    the second one of the very same push, so the first honest reply is refused."""
    messages = [
        Message(_content(1), 11, "train", group_id="1"),
        Message(_content(2), 11, "train", group_id="1"),
    ]
    got = by_node(list(fed.sealed.send_and_receive(messages)))
    assert len(got[11]) == 2
    for reply in got[11]:
        assert_accepted(reply, 11)


def test_a_bound_node_cannot_crash_fedavg_with_an_int_flower_could_never_carry(
    fed: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain Flower refuses ints outside int64 at serialization (ValueError 'Value out of
    range'), so a strategy never sees one. The sealpack codec carries arbitrary big ints
    and the server's typed decoding / plain_to_recorddict accept them, so one malicious
    bound node makes FedAvg's metric aggregation raise OverflowError: the ServerApp
    (the whole run) crashes. Secure behaviour: such a reply is refused for that node."""
    from flwr.serverapp.strategy import FedAvg

    from sealpack.integrations.flower import client

    real = client.run_app

    def with_loss(message, context, call_next, plain, details):  # type: ignore[no-untyped-def]
        outcome = real(message, context, call_next, plain, details)
        records = []
        for name, kind, body in outcome["content"]["records"]:
            if kind == "metrics":
                loss = 10**400 if context.node_id == 12 else 0.5
                body = {**body, "train-loss": loss}
            records.append((name, kind, body))
        return {"content": {"records": records}}

    monkeypatch.setattr(client, "run_app", with_loss)
    from tests.integrations.flower_harness import train

    replies = train(fed, 1)
    accepted = [r for r in replies if not r.has_error()]
    for reply in accepted:  # nothing outside Flower's own value range reaches the strategy
        for record in reply.content.metric_records.values():
            for value in record.values():
                assert not isinstance(value, int) or -(2**63) <= value < 2**64
    FedAvg().aggregate_train(1, replies)  # must not raise (currently OverflowError)


def test_a_server_bundle_setting_naming_a_directory_of_several_bundles_is_refused(
    fed: Federation, tmp_path
) -> None:
    """sealpack-server-bundle is "the ServerApp's KeyBundle JSON file"; given a directory
    (e.g. the trusted-bundles folder) load_pins reads every *.json and client_keys._open
    silently pins the first by file name: here a peer node, not the ServerApp. The mod
    should refuse anything but exactly one bundle."""
    from sealpack.integrations.flower.client_keys import KeySettings, node_keys
    from sealpack.integrations.flower.errors import FlowerConfigError
    from tests.integrations.flower_fakes import PASSPHRASE_ENV

    folder = tmp_path / "pins"
    folder.mkdir()
    (folder / "a-client-12.json").write_text(fed.client_bundles[12].to_json())
    (folder / "server.json").write_text(fed.server.identity.bundle().to_json())
    settings = KeySettings(str(tmp_path / "client-11"), str(folder), PASSPHRASE_ENV)
    with pytest.raises(FlowerConfigError), node_keys(settings, {}, keep_open=False) as keys:
        assert keys.server.name == "server", f"pinned {keys.server.name!r} as the server"
