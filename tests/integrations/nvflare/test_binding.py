"""The binding check alone, field by field, and the peer-mode relay path of the filters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("nvflare")

from nvflare.apis.dxo import from_shareable

from sealpack.integrations.nvflare import filters as flt
from sealpack.integrations.nvflare.binding import Binding, check_binding
from sealpack.integrations.nvflare.errors import RefusedPayloadError
from sealpack.integrations.nvflare.wire import RELAYED, find_blob, has_mark
from tests.integrations.nvflare import fakes

SENT = Binding("job-1", "train", "root-1", "task", "server", ("site-1", "site-2"), 3)
EXPECTED = Binding("job-1", "train", "root-1", "task", "server", ("site-1",), 3)


def test_the_expected_binding_passes() -> None:
    assert check_binding(SENT.metadata(), expected=EXPECTED, sender_name="server") == SENT


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("job", "job-2", "job"),
        ("task", "validate", "task"),
        ("ref", "root-2", "ref"),
        ("dir", "result", "direction"),
        ("dir", "relay", "direction"),
        ("round", 4, "round"),
        ("from", "site-2", "sender"),
        ("to", ["site-2"], "recipient"),
    ],
)
def test_each_bound_field_is_checked(field: str, value: Any, name: str) -> None:
    metadata = SENT.metadata()
    metadata["nvflare"][field] = value
    with pytest.raises(RefusedPayloadError, match=f"another {name}$"):
        check_binding(metadata, expected=EXPECTED, sender_name=metadata["nvflare"]["from"])


def test_the_verified_sender_must_be_the_bound_sender() -> None:
    with pytest.raises(RefusedPayloadError, match="sender"):
        check_binding(SENT.metadata(), expected=EXPECTED, sender_name="site-2")


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"nvflare": "x"},
        {"nvflare": {"job": 1}},
        {"nvflare": {**SENT.metadata()["nvflare"], "round": True}},
    ],
)
def test_a_missing_or_malformed_binding_is_refused(metadata: dict[str, Any]) -> None:
    with pytest.raises(RefusedPayloadError):
        check_binding(metadata, expected=EXPECTED, sender_name="server")


RELAY = Binding("job-1", "train", "", "relay", "site-1", ("site-2", "site-3"), 4, 7)
RELAY_EXPECTED = Binding("job-1", "train", "", "relay", "", ("site-2",))


@pytest.mark.parametrize(
    ("rounds", "newer_than", "refused"),
    [
        ((4, 3), 6, None),  # the receiver's round
        ((5, 4), 6, None),  # the round before: first client of the next round
        ((6, 5), 6, "round"),  # older than the round before
        ((4, 3), 7, "hop"),  # not above the receiver's own last relay
    ],
)
def test_a_relay_is_checked_against_the_rounds_and_the_hop_given(
    rounds: tuple[int, int], newer_than: int, refused: str | None
) -> None:
    def check() -> Binding:
        return check_binding(
            RELAY.metadata(),
            expected=RELAY_EXPECTED,
            sender_name="site-1",
            senders=["site-1", "site-3"],
            rounds=rounds,
            newer_than=newer_than,
        )

    if refused is None:
        assert check() == RELAY
    else:
        with pytest.raises(RefusedPayloadError, match=f"another {refused}$"):
            check()


def test_peer_mode_relays_a_result_the_server_cannot_open(flare_keys: dict[str, Any]) -> None:
    peer = dict(flare_keys, peer_mode=True)
    weights = fakes.model()
    result = flt.SealTaskResultFilter(**peer).process(
        fakes.task_data(weights), fakes.context("site-1", task_id="c-1")
    )
    relayed = flt.OpenTaskResultFilter(**peer).process(
        result, fakes.context("server", task_id="c-1", peer="site-1")
    )
    assert relayed is result and has_mark(relayed, RELAYED)  # passed on, never opened
    with pytest.raises(RefusedPayloadError):  # the server is not a recipient of a relay
        flt.OpenTaskResultFilter(**flare_keys).process(
            result, fakes.context("server", task_id="c-1", peer="site-1")
        )
    as_task = flt.SealTaskDataFilter(**peer).process(result, fakes.context("server"))
    assert find_blob(as_task) is find_blob(result)  # the server does not re-seal a relay
    opened = flt.OpenTaskDataFilter(**peer).process(as_task, fakes.context("site-2", task_id="c-2"))
    np.testing.assert_array_equal(from_shareable(opened).data["w"], weights["w"])
    with pytest.raises(RefusedPayloadError):  # the sender cannot open its own relay
        flt.OpenTaskDataFilter(**peer).process(as_task, fakes.context("site-1", task_id="c-3"))
