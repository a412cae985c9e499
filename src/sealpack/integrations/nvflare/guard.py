"""A component that makes a misconfigured sealed job fail closed.

NVFLARE looks task filters up by exact task name: a filter registered for
``tasks=["*"]`` (or for a task name the workflow does not use) silently never runs,
and the job would go on in the clear. The guard listens to NVFLARE's events, which
fire for every task, and checks the in-process marks the sealpack filters leave:

* client, ``AFTER_TASK_DATA_FILTER``: task data that was not opened by sealpack is
  wiped (the trainer gets nothing) and the task is remembered as refused;
* client, ``AFTER_TASK_RESULT_FILTER``: a result of a refused task, or one that was
  not sealed, is wiped and answered with ``TASK_DATA_FILTER_ERROR`` /
  ``TASK_RESULT_FILTER_ERROR``;
* server, ``AFTER_TASK_DATA_FILTER``: task data that was not sealed is wiped before
  it is sent (the client's open filter then refuses it);
* server, ``AFTER_TASK_RESULT_FILTER``: a result that was not opened (or, in peer
  mode, relayed sealed) is wiped and becomes ``TASK_RESULT_FILTER_ERROR``.

Wiping works in place on the very Shareable object NVFLARE goes on with (the event
carries it in the FL context), which is why the guard can stop a task even though
NVFLARE ignores exceptions raised by event handlers.
"""

from __future__ import annotations

from collections import deque

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.apis.fl_context import FLContext
from nvflare.apis.server_engine_spec import ServerEngineSpec
from nvflare.apis.shareable import Shareable

from sealpack.integrations.nvflare.wire import OPENED, RELAYED, SEALED, has_mark, wipe

__all__ = ["SealpackGuard"]

_REMEMBERED_TASKS = 1024


class SealpackGuard(FLComponent):  # type: ignore[misc]
    """Refuse any task data or result that did not pass through sealpack's filters.

    Args:
        server: the server's site name (recorded for the job config; the guard tells
            the sides apart by NVFLARE's engine).
        peer_mode: results are relayed sealed between clients (Cyclic).
    """

    def __init__(self, server: str = "server", peer_mode: bool = False) -> None:
        super().__init__()
        self.server = server
        self.peer_mode = peer_mode
        self._refused: deque[str] = deque(maxlen=_REMEMBERED_TASKS)
        self.refusals = 0

    def handle_event(self, event_type: str, fl_ctx: FLContext) -> None:
        """Check the task data or result NVFLARE just filtered."""
        on_server = isinstance(fl_ctx.get_engine(), ServerEngineSpec)
        if event_type == EventType.AFTER_TASK_DATA_FILTER:
            data = fl_ctx.get_prop(FLContextKey.TASK_DATA)
            if on_server:
                self._check(data, (SEALED, RELAYED), ReturnCode.TASK_DATA_FILTER_ERROR, fl_ctx)
            elif not self._check(data, (OPENED,), ReturnCode.TASK_DATA_FILTER_ERROR, fl_ctx):
                self._refused.append(str(fl_ctx.get_prop(FLContextKey.TASK_ID)))
        elif event_type == EventType.AFTER_TASK_RESULT_FILTER:
            result = fl_ctx.get_prop(FLContextKey.TASK_RESULT)
            if on_server:
                allowed = (OPENED, RELAYED) if self.peer_mode else (OPENED,)
                self._check(result, allowed, ReturnCode.TASK_RESULT_FILTER_ERROR, fl_ctx)
            elif str(fl_ctx.get_prop(FLContextKey.TASK_ID)) in self._refused:
                self._refuse(result, ReturnCode.TASK_DATA_FILTER_ERROR, fl_ctx)
            else:
                self._check(result, (SEALED,), ReturnCode.TASK_RESULT_FILTER_ERROR, fl_ctx)

    def _check(
        self, shareable: object, states: tuple[str, ...], code: str, fl_ctx: FLContext
    ) -> bool:
        if not isinstance(shareable, Shareable) or has_mark(shareable, *states):
            return True
        is_result = code == ReturnCode.TASK_RESULT_FILTER_ERROR
        if is_result and shareable.get_return_code(ReturnCode.OK) != ReturnCode.OK:
            wipe(shareable, shareable.get_return_code())  # an error reply: keep its code only
            return True
        self._refuse(shareable, code, fl_ctx)
        return False

    def _refuse(self, shareable: object, code: str, fl_ctx: FLContext) -> None:
        if not isinstance(shareable, Shareable):
            return
        wipe(shareable, code)
        self.refusals += 1
        task = fl_ctx.get_prop(FLContextKey.TASK_NAME)
        self.log_error(
            fl_ctx,
            f"sealpack guard: task {task!r} did not pass sealpack's filters; refused with {code}. "
            "Are the filters registered for this task name? tasks=['*'] matches no task.",
        )
