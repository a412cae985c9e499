"""The four sealpack filters, driven the way NVFLARE's server and client runners call them."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

pytest.importorskip("nvflare")

from nvflare.apis.dxo import DataKind, from_shareable
from nvflare.apis.fl_constant import FLContextKey
from nvflare.apis.shareable import ReservedHeaderKey, make_copy
from nvflare.app_common.abstract.fl_model import ParamsType
from nvflare.app_common.app_constant import AppConstants

import sealpack
from sealpack.integrations.nvflare import filters as flt
from sealpack.integrations.nvflare.errors import RefusedPayloadError
from sealpack.integrations.nvflare.wire import BLOB_KEY, find_blob
from tests.integrations.nvflare import fakes


def _broadcast(keys: dict[str, Any], weights: Any, root: str = "root-1", rnd: int = 0) -> Any:
    return flt.SealTaskDataFilter(**keys).process(
        fakes.task_data(weights, root, rnd), fakes.context("server", task_id="s-" + root)
    )


def _open_task(keys: dict[str, Any], sealed: Any, site: str = "site-1", **ctx: Any) -> Any:
    return flt.OpenTaskDataFilter(**keys).process(sealed, fakes.context(site, **ctx))


def _seal_result(
    keys: dict[str, Any], result: Any, site: str = "site-1", task_id: str = "c-1"
) -> Any:
    return flt.SealTaskResultFilter(**keys).process(result, fakes.context(site, task_id=task_id))


def _open_result(
    keys: dict[str, Any], sealed: Any, client: str = "site-1", task_id: str = "c-1"
) -> Any:
    ctx = fakes.context("server", task_id=task_id, peer=client)
    return flt.OpenTaskResultFilter(**keys).process(sealed, ctx)


def test_task_and_result_round_trip_keeps_dxo_enums_and_headers(flare_keys: dict[str, Any]) -> None:
    weights = fakes.model()
    sealed = _broadcast(flare_keys, weights)
    assert set(sealed) == {"__headers__", "DXO"} and find_blob(sealed) is not None
    assert sealed.get_header(AppConstants.CURRENT_ROUND) == 0

    opened = _open_task(flare_keys, sealed)
    dxo = from_shareable(opened)
    assert dxo.data_kind is DataKind.WEIGHTS  # NVFLARE's enums come back as enums
    assert dxo.meta == {"x": 1, "params_type": ParamsType.FULL}
    assert dxo.meta["params_type"] is ParamsType.FULL
    for name, array in weights.items():
        np.testing.assert_array_equal(dxo.data[name], array)

    result = _open_result(flare_keys, _seal_result(flare_keys, opened))
    np.testing.assert_array_equal(from_shareable(result).data["w"], weights["w"])


def test_sealed_payload_holds_no_model_bytes(flare_keys: dict[str, Any]) -> None:
    weights = fakes.model()
    blob = find_blob(_broadcast(flare_keys, weights))
    assert blob is not None and blob.dtype == np.uint8
    assert weights["w"].tobytes()[:64] not in blob.tobytes()


def test_broadcast_is_sealed_once_for_every_client(
    flare_keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    real = flt.seal_content
    monkeypatch.setattr(flt, "seal_content", lambda *a, **k: calls.append(a) or real(*a, **k))
    seal = flt.SealTaskDataFilter(**flare_keys)
    task = fakes.task_data(fakes.model())
    # NVFLARE hands the filter one shallow per-client copy of the broadcast data.
    first = seal.process(make_copy(task), fakes.context("server", task_id="for-site-1"))
    second = seal.process(make_copy(task), fakes.context("server", task_id="for-site-2"))

    assert len(calls) == 1
    assert find_blob(first) is find_blob(second)
    recipients = sealpack.inspect(memoryview(find_blob(first))).recipients
    assert len(recipients) == 2
    for site in ("site-1", "site-2"):
        opened = _open_task(flare_keys, first if site == "site-1" else second, site)
        np.testing.assert_array_equal(from_shareable(opened).data["b"], fakes.model()["b"])
    seal.process(make_copy(fakes.task_data(fakes.model(), "root-2")), fakes.context("server"))
    assert len(calls) == 2  # the next task is a new seal


def test_cyclic_relay_in_one_round_sends_the_updated_model(flare_keys: dict[str, Any]) -> None:
    """Failure (honest run): Cyclic (non-peer mode) relays ONE task (same MSG_ROOT_ID and
    round) to site-1, then, with site-1's result as its data, to site-2. The blob was
    cached by the binding alone, so site-2 got site-1's model and site-1's update was
    lost. The content's objects are part of the cache key now."""
    seal = flt.SealTaskDataFilter(**flare_keys)
    start, after_site1 = fakes.model(0), fakes.model(1)
    first = seal.process(fakes.task_data(start, "root-1", 0), fakes.context("server"))
    opened = _open_task(flare_keys, first, "site-1", task_id="a")
    np.testing.assert_array_equal(from_shareable(opened).data["w"], start["w"])
    second = seal.process(fakes.task_data(after_site1, "root-1", 0), fakes.context("server"))
    opened = _open_task(flare_keys, second, "site-2", task_id="b")
    np.testing.assert_array_equal(from_shareable(opened).data["w"], after_site1["w"])


def test_sealing_never_mutates_the_shared_task_data(flare_keys: dict[str, Any]) -> None:
    task = fakes.task_data(fakes.model())
    before = copy.deepcopy(dict(task))
    arrays = from_shareable(task).data
    _broadcast(flare_keys, arrays)
    flt.SealTaskDataFilter(**flare_keys).process(task, fakes.context("server"))

    assert set(task) == set(before)
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, before["DXO"]["data"][name])
    assert task.get_header(ReservedHeaderKey.MSG_ROOT_ID) == "root-1"


def test_opened_arrays_are_writable_even_from_a_read_only_blob(flare_keys: dict[str, Any]) -> None:
    sealed = _broadcast(flare_keys, fakes.model())
    blob = find_blob(sealed)
    assert blob is not None
    blob.flags.writeable = False
    sealed["DXO"]["data"][BLOB_KEY] = blob
    data = from_shareable(_open_task(flare_keys, sealed)).data
    for array in data.values():
        assert array.flags.writeable
        array += 1.0  # a trainer updating in place


def test_open_result_puts_the_opened_shareable_in_the_peer_context(
    flare_keys: dict[str, Any],
) -> None:
    sealed = _seal_result(flare_keys, fakes.task_data(fakes.model()))
    ctx = fakes.context("server", task_id="c-1", peer="site-1")
    ctx.get_peer_context().set_prop(FLContextKey.SHAREABLE, sealed, private=True, sticky=True)
    opened = flt.OpenTaskResultFilter(**flare_keys).process(sealed, ctx)

    assert ctx.get_peer_context().get_prop(FLContextKey.SHAREABLE) is opened
    assert from_shareable(opened).meta["x"] == 1


# --- refusals: each is an attack a transport or a malicious peer can mount ------------


def test_unsealed_task_data_is_refused(flare_keys: dict[str, Any]) -> None:
    with pytest.raises(RefusedPayloadError, match="not sealed"):
        _open_task(flare_keys, fakes.task_data(fakes.model()))


def test_unsealed_result_is_refused(flare_keys: dict[str, Any]) -> None:
    with pytest.raises(RefusedPayloadError, match="not sealed"):
        _open_result(flare_keys, fakes.task_data(fakes.model()))


def test_bit_flip_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _broadcast(flare_keys, fakes.model())
    blob = np.array(find_blob(sealed), copy=True)
    blob[len(blob) // 2] ^= 1
    sealed["DXO"]["data"][BLOB_KEY] = blob
    with pytest.raises(RefusedPayloadError) as caught:
        _open_task(flare_keys, sealed)
    assert isinstance(caught.value.__cause__, sealpack.errors.TamperedError)


def test_task_data_replayed_after_its_result_was_sent_is_refused(
    flare_keys: dict[str, Any],
) -> None:
    sealed = _broadcast(flare_keys, fakes.model())
    opened = _open_task(flare_keys, sealed, task_id="c-1")
    _seal_result(flare_keys, opened, task_id="c-1")  # acknowledges the task data
    with pytest.raises(RefusedPayloadError) as caught:
        _open_task(flare_keys, sealed, task_id="c-1")
    assert isinstance(caught.value.__cause__, sealpack.errors.ReplayError)


def test_task_resent_before_its_result_opens_again(flare_keys: dict[str, Any]) -> None:
    """NVFLARE re-sends a task whose result did not arrive: that is a redelivery."""
    sealed = _broadcast(flare_keys, fakes.model())
    _open_task(flare_keys, sealed, task_id="c-1")
    again = _open_task(flare_keys, sealed, task_id="c-1")
    np.testing.assert_array_equal(from_shareable(again).data["w"], fakes.model()["w"])


def test_task_data_moved_into_another_task_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _broadcast(flare_keys, fakes.model(), root="root-1")
    sealed.set_header(ReservedHeaderKey.MSG_ROOT_ID, "root-2")
    with pytest.raises(RefusedPayloadError, match="another"):
        _open_task(flare_keys, sealed)


def test_a_relay_cannot_burn_a_task_by_delivering_it_in_another_task_first(
    flare_keys: dict[str, Any],
) -> None:
    sealed = _broadcast(flare_keys, fakes.model(), root="root-1")
    misplaced = make_copy(sealed)
    misplaced.set_header(ReservedHeaderKey.MSG_ROOT_ID, "root-2")
    with pytest.raises(RefusedPayloadError, match="another ref"):
        _open_task(flare_keys, misplaced, task_id="c-2")
    opened = _open_task(flare_keys, sealed, task_id="c-1")  # nothing was recorded
    np.testing.assert_array_equal(from_shareable(opened).data["w"], fakes.model()["w"])


def test_task_data_moved_into_another_round_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _broadcast(flare_keys, fakes.model(), rnd=0)
    sealed.set_header(AppConstants.CURRENT_ROUND, 1)
    with pytest.raises(RefusedPayloadError, match="another"):
        _open_task(flare_keys, sealed)


def test_task_data_moved_into_another_task_name_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _broadcast(flare_keys, fakes.model())
    with pytest.raises(RefusedPayloadError, match="another"):
        _open_task(flare_keys, sealed, task="validate")


def test_task_data_moved_into_another_job_is_refused(
    flare_keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sealed = _broadcast(flare_keys, fakes.model())
    monkeypatch.setattr(fakes, "JOB", "job-2")
    with pytest.raises(RefusedPayloadError, match="another"):
        _open_task(flare_keys, sealed)


def test_result_replayed_into_another_task_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _seal_result(flare_keys, fakes.task_data(fakes.model()), task_id="round-0-task")
    with pytest.raises(RefusedPayloadError, match="another"):
        _open_result(flare_keys, sealed, task_id="round-1-task")


def test_result_replayed_as_another_sites_result_is_refused(flare_keys: dict[str, Any]) -> None:
    sealed = _seal_result(flare_keys, fakes.task_data(fakes.model()), site="site-1")
    with pytest.raises(RefusedPayloadError):
        _open_result(flare_keys, sealed, client="site-2")


def test_task_data_sealed_by_a_client_is_refused(flare_keys: dict[str, Any]) -> None:
    """A client cannot pose as the server: its blob to another client is refused."""
    from sealpack.integrations.nvflare.binding import Binding
    from sealpack.integrations.nvflare.keys import KeyConfig, site_keys
    from sealpack.integrations.nvflare.sealing import seal_content
    from sealpack.integrations.nvflare.wire import sealed_shareable

    config = KeyConfig(flare_keys["keystore"], flare_keys["bundles"], flare_keys["unlock_env"])
    rogue = site_keys(config, "site-2")
    task = fakes.task_data(fakes.model())
    binding = Binding(fakes.JOB, "train", "root-1", "task", "server", ("site-1",), 0)
    forged = sealed_shareable(task, seal_content(task, rogue, binding))
    with pytest.raises(RefusedPayloadError):
        _open_task(flare_keys, forged)


def test_task_data_for_other_clients_is_refused(flare_keys: dict[str, Any], tmp_path: Any) -> None:
    """A client added after the task was sealed is not a recipient."""
    from tests.integrations.nvflare.keys_harness import make_keys

    sealed = _broadcast(flare_keys, fakes.model())
    make_keys(tmp_path / "late", ["site-3"])
    (tmp_path / "late" / "bundles" / "site-3.json").rename(
        tmp_path / "keys" / "bundles" / "site-3.json"
    )
    late = dict(flare_keys, keystore=str(tmp_path / "late" / "stores" / "{site}"))
    with pytest.raises(RefusedPayloadError, match=r"(?i)recipient"):
        _open_task(late, sealed, "site-3")
