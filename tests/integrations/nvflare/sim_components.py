"""NVFLARE components the simulator tests add to jobs: a wire tap, attackers, a recorder.

They run inside the simulator's processes (FedJob copies this file into the job).
"""

import json
import os
import threading
import uuid

import numpy as np
from nvflare.apis.event_type import EventType
from nvflare.apis.filter import Filter
from nvflare.apis.fl_component import FLComponent
from nvflare.apis.fl_constant import FLContextKey, ReturnCode
from nvflare.app_common.np.np_model_persistor import NPModelPersistor

_TAP = {"folder": None, "installed": False}
_TAP_LOCK = threading.Lock()


def _install_tap(folder):
    """Copy every CellNet frame this process sends to a file under ``folder``."""
    from nvflare.fuel.f3.sfm import sfm_conn

    with _TAP_LOCK:
        _TAP["folder"] = folder
        if _TAP["installed"]:
            return
        original = sfm_conn.SfmConnection.send_frame
        path = os.path.join(folder, f"frames-{os.getpid()}-{uuid.uuid4().hex[:6]}.bin")

        def send_frame(self, prefix, headers, payload):
            if payload:
                with _TAP_LOCK, open(path, "ab") as sink:
                    sink.write(bytes(payload))
            return original(self, prefix, headers, payload)

        sfm_conn.SfmConnection.send_frame = send_frame
        _TAP["installed"] = True


class FrameTap(FLComponent):
    """Records every frame leaving this process over CellNet (all sites)."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        _install_tap(folder)

    def handle_event(self, event_type, fl_ctx):
        pass


class ResultRecorder(FLComponent):
    """Server: writes (client, return code) of every submission NVFLARE processes."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def handle_event(self, event_type, fl_ctx):
        if event_type != EventType.BEFORE_PROCESS_SUBMISSION:
            return
        result = fl_ctx.get_prop(FLContextKey.TASK_RESULT)
        peer = fl_ctx.get_peer_context()
        record = {
            "client": peer.get_identity_name() if peer else "?",
            "rc": result.get_return_code(ReturnCode.OK) if result is not None else None,
            "content": sorted(k for k in (result or {}) if k != "__headers__"),
        }
        with open(self.path, "a") as sink:
            sink.write(json.dumps(record) + "\n")


def _blob(shareable):
    dxo = shareable.get("DXO") or {}
    data = dxo.get("data") or {}
    return data.get("__sealpack__")


class FlipBitAttack(Filter):
    """Client task-data filter placed BEFORE sealpack's: flips one bit on ``site``'s
    second task (what an attacker on the wire or a relay could do)."""

    def __init__(self, site: str):
        super().__init__()
        self.site = site
        self.seen = 0

    def process(self, shareable, fl_ctx):
        if fl_ctx.get_identity_name() != self.site:
            return shareable
        self.seen += 1
        blob = _blob(shareable)
        if self.seen == 2 and blob is not None:
            flipped = np.array(blob, copy=True)
            flipped[len(flipped) // 2] ^= 0x01
            shareable["DXO"]["data"]["__sealpack__"] = flipped
        return shareable


class CrossSiteReplayAttack(Filter):
    """Server task-result filter placed BEFORE sealpack's: replaces ``victim``'s second
    result by ``source``'s first sealed result (a replay between sites and rounds)."""

    def __init__(self, source: str, victim: str):
        super().__init__()
        self.source = source
        self.victim = victim
        self.saved = None
        self.victim_seen = 0

    def process(self, shareable, fl_ctx):
        client = fl_ctx.get_peer_context().get_identity_name()
        if client == self.source and self.saved is None and _blob(shareable) is not None:
            self.saved = _blob(shareable)
        if client == self.victim:
            self.victim_seen += 1
            if self.victim_seen == 2 and self.saved is not None:
                shareable["DXO"]["data"]["__sealpack__"] = self.saved
        return shareable


class SealedModelPersistor(NPModelPersistor):
    """Server persistor for peer mode: the model it holds is a sealed blob, saved as is
    (``models/server.npz``; NPModelPersistor would look for its ``numpy_key``)."""

    def save_model(self, model_learnable, fl_ctx):
        weights = model_learnable["weights"]
        folder = os.path.join(
            fl_ctx.get_engine().get_workspace().get_run_dir(fl_ctx.get_job_id()), "models"
        )
        os.makedirs(folder, exist_ok=True)
        np.savez(os.path.join(folder, "server.npz"), **weights)
