"""Cost of sealing a Flower run: per round against plaintext, and per message on a node.

``run(quick)`` returns two kinds of rows:

* ``flower_round``: a FedAvg run on Flower's simulation engine (needs flwr[simulation]),
  sealed vs. plain, per model size and round (engine start-up excluded);
* ``flower_node_message``: one ClientApp node handling sealed instructions in-process
  through the sealpack mod, with a passphrase key store at the default scrypt cost,
  opening the store per message (``keep_open=False``, sealpack 0.1) or keeping one
  handle open per process (``keep_open=True``, the default since issue 10.11).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

RUN_ID, NODE = 77, 5
_ENV = "SEALPACK_BENCH_FLOWER_PASSPHRASE"


def _round_rows(quick: bool) -> list[dict[str, object]]:
    from sealpack.integrations.flower.demo import make_keys, run_demo

    sizes = [4096] if quick else [4096, 1 << 20]
    rows: list[dict[str, object]] = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            make_keys(Path(tmp), 3)
            plain = run_demo(keys_dir=None, num_rounds=2, model_size=size)
            sealed = run_demo(keys_dir=Path(tmp), num_rounds=2, model_size=size)
        for index, (p, s) in enumerate(zip(plain.round_seconds, sealed.round_seconds, strict=True)):
            rows.append(
                {
                    "bench": "flower_round",
                    "model_bytes": size * 8 + 64,
                    "nodes": 3,
                    "round": index + 1,
                    "plain_s": round(p, 4),
                    "sealed_s": round(s, 4),
                    "overhead_s": round(s - p, 4),
                    "seal_ops": sum(1 for e in sealed.events if e.action == "seal"),
                }
            )
    return rows


def _node_seconds(keep_open: bool, messages: int) -> list[float]:
    """Seconds the sealed ClientApp takes per instruction (after its hello)."""
    import numpy as np
    from flwr.app import ArrayRecord, Context, Message, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    from sealpack.api import seal
    from sealpack.integrations.flower.binding import WIRE_VERSION, instruction_metadata
    from sealpack.integrations.flower.client import SealpackClientMod, sealed_client_app
    from sealpack.integrations.flower.client_keys import close_all
    from sealpack.integrations.flower.handshake import hello_message
    from sealpack.integrations.flower.records import recorddict_to_plain
    from sealpack.integrations.flower.wire import wrap_blob
    from sealpack.keys import Identity, KeyStore

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = RUN_ID, 1, 1
    os.environ[_ENV] = "benchmark passphrase"
    server = Identity.generate("server", one_time_prekeys=0)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "server.json").write_text(server.bundle().to_json())
        client = Identity.generate("client", one_time_prekeys=messages + 4)
        bundle = client.bundle()
        KeyStore.create(Path(tmp) / "client", client, passphrase=b"benchmark passphrase").close()
        mod = SealpackClientMod(
            keystore=str(Path(tmp) / "client"),
            server_bundle=str(Path(tmp) / "server.json"),
            passphrase_env=_ENV,
            keep_open=keep_open,
        )
        app = sealed_client_app(mod=mod)
        app.train()(lambda message, context: Message(message.content, reply_to=message))
        context = Context(RUN_ID, NODE, {}, RecordDict(), {})
        server_json = server.bundle().to_json()
        app(hello_message(NODE, os.urandom(32), server_json, 0), context)
        content = recorddict_to_plain(RecordDict({"a": ArrayRecord([np.zeros(1024)])}))
        seconds = []
        for seq in range(messages):
            payload = {"v": WIRE_VERSION, "kind": "instruction", "request": os.urandom(16),
                       "server": server_json, "content": content}  # fmt: skip
            metadata = instruction_metadata(RUN_ID, "train", str(seq), [NODE], seq)
            blob = seal(payload, sender=server, recipients=[bundle], metadata=metadata)
            message = Message(wrap_blob(blob, kind="instruction", sender="server"), NODE, "train",
                              group_id=str(seq))  # fmt: skip
            started = time.perf_counter()
            app(message, context)
            seconds.append(time.perf_counter() - started)
        close_all()
    return seconds


def _node_rows(quick: bool) -> list[dict[str, object]]:
    messages = 4 if quick else 12
    rows: list[dict[str, object]] = []
    for keep_open in (False, True):
        seconds = _node_seconds(keep_open, messages)
        rows.append(
            {
                "bench": "flower_node_message",
                "keep_open": keep_open,
                "messages": messages,
                "median_ms": round(statistics.median(seconds) * 1000, 2),
                "max_ms": round(max(seconds) * 1000, 2),
            }
        )
    return rows


def run(quick: bool) -> list[dict[str, object]]:
    """Per-message node cost (open per message vs. one handle), then per-round overhead."""
    warnings.filterwarnings("ignore", message="sealpack key store", category=UserWarning)
    return _node_rows(quick) + _round_rows(quick)


if __name__ == "__main__":
    import sys

    rows = _node_rows(quick=True) if "--node" in sys.argv else run(quick=True)
    for row in rows:
        print(row)
