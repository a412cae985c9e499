"""The guard makes a job fail closed when sealpack's filters did not run.

The pitfall it exists for: NVFLARE looks filters up by exact task name, so filters
registered for ``tasks=["*"]`` never run (shown here with NVFLARE's own lookup).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

pytest.importorskip("nvflare")

from nvflare.apis.client_engine_spec import ClientEngineSpec
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_constant import FilterKey, FLContextKey, ReservedKey, ReturnCode
from nvflare.apis.shareable import Shareable
from nvflare.apis.utils.task_utils import apply_filters

from sealpack.integrations.nvflare import filters as flt
from sealpack.integrations.nvflare.guard import SealpackGuard
from sealpack.integrations.nvflare.wire import find_blob
from tests.integrations.nvflare import fakes


def _on(side: str, ctx: Any) -> Any:
    from nvflare.apis.server_engine_spec import ServerEngineSpec

    spec = ServerEngineSpec if side == "server" else ClientEngineSpec
    ctx.set_prop(ReservedKey.ENGINE, mock.MagicMock(spec=spec), private=True, sticky=False)
    return ctx


def _event(guard: SealpackGuard, event: str, ctx: Any, key: str, shareable: Shareable) -> None:
    ctx.set_prop(key, shareable, private=True, sticky=False)
    guard.handle_event(event, ctx)


def test_wildcard_filters_never_run_in_nvflare_and_the_guard_refuses_the_task(
    flare_keys: dict[str, Any],
) -> None:
    sealed = flt.SealTaskDataFilter(**flare_keys).process(
        fakes.task_data(fakes.model()), fakes.context("server")
    )
    ctx = _on("client", fakes.context("site-1", task_id="c-1"))
    table = {"*" + FilterKey.DELIMITER + FilterKey.IN: [flt.OpenTaskDataFilter(**flare_keys)]}
    # What ClientRunner does: the open filter registered for "*" is never found...
    data = apply_filters("task_data_filters", sealed, ctx, table, "train", FilterKey.IN)
    assert data is sealed and find_blob(data) is not None
    # ...and the guard, which sees every task through NVFLARE's events, stops it.
    guard = SealpackGuard()
    _event(guard, EventType.AFTER_TASK_DATA_FILTER, ctx, FLContextKey.TASK_DATA, data)
    assert find_blob(data) is None and set(data) == {"__headers__"}
    result = fakes.task_data(fakes.model())  # whatever the trainer made of nothing
    _event(guard, EventType.AFTER_TASK_RESULT_FILTER, ctx, FLContextKey.TASK_RESULT, result)
    assert set(result) == {"__headers__"}
    assert result.get_return_code() == ReturnCode.TASK_DATA_FILTER_ERROR
    assert guard.refusals == 2


def test_client_guard_refuses_a_result_that_was_not_sealed(flare_keys: dict[str, Any]) -> None:
    guard = SealpackGuard()
    ctx = _on("client", fakes.context("site-1", task_id="c-1"))
    opened = flt.OpenTaskDataFilter(**flare_keys).process(
        flt.SealTaskDataFilter(**flare_keys).process(
            fakes.task_data(fakes.model()), fakes.context("server")
        ),
        fakes.context("site-1", task_id="c-1"),
    )
    _event(guard, EventType.AFTER_TASK_DATA_FILTER, ctx, FLContextKey.TASK_DATA, opened)
    assert set(opened) == {"__headers__", "DXO"}  # opened by sealpack: untouched
    plain_result = fakes.task_data(fakes.model())
    _event(guard, EventType.AFTER_TASK_RESULT_FILTER, ctx, FLContextKey.TASK_RESULT, plain_result)
    assert set(plain_result) == {"__headers__"}
    assert plain_result.get_return_code() == ReturnCode.TASK_RESULT_FILTER_ERROR


def test_server_guard_refuses_unsealed_task_data_and_unopened_results(
    flare_keys: dict[str, Any],
) -> None:
    guard = SealpackGuard()
    ctx = _on("server", fakes.context("server", task_id="c-1", peer="site-1"))
    task = fakes.task_data(fakes.model())
    _event(guard, EventType.AFTER_TASK_DATA_FILTER, ctx, FLContextKey.TASK_DATA, task)
    assert set(task) == {"__headers__"}

    sealed_result = flt.SealTaskResultFilter(**flare_keys).process(
        fakes.task_data(fakes.model()), fakes.context("site-1", task_id="c-1")
    )
    _event(guard, EventType.AFTER_TASK_RESULT_FILTER, ctx, FLContextKey.TASK_RESULT, sealed_result)
    assert set(sealed_result) == {"__headers__"}  # still sealed: never opened here
    assert sealed_result.get_return_code() == ReturnCode.TASK_RESULT_FILTER_ERROR

    opened = flt.OpenTaskResultFilter(**flare_keys).process(
        flt.SealTaskResultFilter(**flare_keys).process(
            fakes.task_data(fakes.model()), fakes.context("site-1", task_id="c-2")
        ),
        fakes.context("server", task_id="c-2", peer="site-1"),
    )
    _event(guard, EventType.AFTER_TASK_RESULT_FILTER, ctx, FLContextKey.TASK_RESULT, opened)
    assert set(opened) == {"__headers__", "DXO"}
    assert guard.refusals == 2


def test_guard_keeps_an_error_replys_code_and_drops_its_content() -> None:
    guard = SealpackGuard()
    ctx = _on("server", fakes.context("server", task_id="c-1", peer="site-1"))
    reply = fakes.task_data(fakes.model())
    reply.set_return_code(ReturnCode.EXECUTION_EXCEPTION)
    _event(guard, EventType.AFTER_TASK_RESULT_FILTER, ctx, FLContextKey.TASK_RESULT, reply)
    assert set(reply) == {"__headers__"}
    assert reply.get_return_code() == ReturnCode.EXECUTION_EXCEPTION
    assert guard.refusals == 0
