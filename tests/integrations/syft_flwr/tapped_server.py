"""A ServerApp whose transport (below sealpack) is attacked; copied into the test project.

The tap wraps syft-flwr's own ``SyftGrid``, i.e. what the synced datasite folders
deliver (its push and pull: sealpack's adapter polls through them), and:

* round 1: injects a plaintext ``train`` instruction (marker ``INJECTED``) into the
  first datasite's folder, and flips one bit of the second datasite's sealed reply;
* round 2: replaces the first datasite's reply with its reply of round 1 (replay).

What happened is written to ``$SEALED_FL_TAP_OUT`` (JSON) for the test.
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, RecordDict
from flwr.serverapp import Grid, ServerApp
from sealed_fl.server_app import serve

from sealpack.integrations.flower.wire import BLOB_RECORD

FIRST = zlib.crc32(b"alice@hospital-a.example")
SECOND = zlib.crc32(b"bob@hospital-b.example")


class Tap:
    """Attacker on the transport: sees and rewrites what the datasite folders carry."""

    def __init__(self, grid: Any) -> None:
        self._grid = grid
        self.round = 0
        self.pulled_round = 0  # the last round a train reply was pulled in
        self.saved: Any = None
        self.injected: list[str] = []
        self.log: dict[str, Any] = {"flipped": 0, "replayed": 0, "injected": 0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def push_messages(self, messages: Any) -> list[str]:
        messages = list(messages)
        for message in messages:  # sealpack's adapter pushes one message at a time
            if message.metadata.message_type == "train" and self.round == self.pulled_round:
                self.round += 1  # the first train instruction after last round's replies
                if self.round == 1:
                    self._inject()
        return list(self._grid.push_messages(messages))

    def pull_messages(self, ids: Any) -> Any:
        pulled, completed = self._grid.pull_messages(list(ids))
        if any(reply.metadata.message_type == "train" for reply in pulled.values()):
            self.pulled_round = self.round
        rewritten = {
            future: self._rewrite(reply) if reply.metadata.message_type == "train" else reply
            for future, reply in pulled.items()
        }
        return rewritten, completed

    def _inject(self) -> None:
        content = RecordDict(
            {
                "arrays": ArrayRecord([__import__("numpy").zeros(4, dtype="float32")]),
                "config": ConfigRecord({"marker": "INJECTED"}),
            }
        )
        message = self._grid.create_message(content, "train", FIRST, "1", ttl=600.0)
        self.injected = [str(i) for i in self._grid.push_messages([message])]
        self.log["injected"] = len(self.injected)

    def _rewrite(self, reply: Any) -> Any:
        node = reply.metadata.src_node_id
        if self.round == 1 and node == FIRST:
            self.saved = copy.deepcopy(reply)
        if self.round == 1 and node == SECOND and reply.has_content():
            record = reply.content[BLOB_RECORD]
            key = next(iter(record.keys()))
            old = record[key]
            data = bytearray(old.data)
            data[len(data) // 2] ^= 0x01
            record[key] = Array(dtype=old.dtype, shape=old.shape, stype=old.stype, data=bytes(data))
            self.log["flipped"] += 1
        if self.round == 2 and node == FIRST and self.saved is not None:
            self.log["replayed"] += 1
            return self.saved
        return reply

    def injected_reply(self) -> dict[str, Any]:
        """The first datasite's answer to the injected instruction."""
        if not self.injected:
            return {}
        pulled, _ = self._grid.pull_messages(self.injected)
        for reply in pulled.values():
            if reply.has_error():
                return {"error": True, "reason": reply.error.reason[:2000]}
            return {"error": False}
        return {}


app = ServerApp()


@app.main()
def _main(grid: Grid, context: Context) -> None:
    taps: list[Tap] = []

    def tap(inner: Any) -> Tap:
        taps.append(Tap(inner))
        return taps[0]

    sealed = serve(grid, context, tap=tap)
    result = dict(taps[0].log)
    result["injected_reply"] = taps[0].injected_reply()
    result["refused"] = [[int(node), reason] for node, reason in sealed.refused]
    with open(os.environ["SEALED_FL_TAP_OUT"], "w", encoding="utf-8") as out:
        json.dump(result, out)
