"""NVFLARE contexts and Shareables as the server and client runners build them."""

from __future__ import annotations

from typing import Any

import numpy as np
from nvflare.apis.dxo import DXO, DataKind
from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import ReservedHeaderKey, Shareable
from nvflare.app_common.abstract.fl_model import ParamsType
from nvflare.app_common.app_constant import AppConstants

JOB = "job-1"


def context(site: str, task: str = "train", task_id: str = "t-1", peer: str = "") -> FLContext:
    """An FL context of ``site`` filtering ``task`` (peer: the other side's site name)."""
    ctx = FLContext()
    ctx.set_prop(ReservedKey.IDENTITY_NAME, site, private=False, sticky=False)
    ctx.set_prop(ReservedKey.RUN_NUM, JOB, private=False, sticky=False)
    ctx.set_prop(FLContextKey.TASK_NAME, task, private=True, sticky=False)
    ctx.set_prop(FLContextKey.TASK_ID, task_id, private=True, sticky=False)
    if peer:
        peer_ctx = FLContext()
        peer_ctx.set_prop(ReservedKey.IDENTITY_NAME, peer, private=False, sticky=False)
        peer_ctx.set_prop(ReservedKey.RUN_NUM, JOB, private=False, sticky=False)
        ctx.set_peer_context(peer_ctx)
    return ctx


def model(seed: int = 0) -> dict[str, np.ndarray]:
    """Model weights with recognizable bytes."""
    rng = np.random.default_rng(seed)
    return {"w": rng.standard_normal((4, 64)), "b": rng.standard_normal(64)}


def task_data(weights: dict[str, Any], root: str = "root-1", rnd: int = 0) -> Shareable:
    """A task as the server's workflow makes it (a WEIGHTS DXO with headers)."""
    meta = {"x": 1, "params_type": ParamsType.FULL}
    shareable = DXO(DataKind.WEIGHTS, data=weights, meta=meta).to_shareable()
    shareable.set_header(ReservedHeaderKey.TASK_NAME, "train")
    shareable.set_header(ReservedHeaderKey.MSG_ROOT_ID, root)
    shareable.set_header(AppConstants.CURRENT_ROUND, rnd)
    return shareable
