"""A receiving process for the crash-safety tests (run as a script, not collected).

Usage:
    crash_worker.py MODE STORE BLOB SENDER_BUNDLE_JSON

MODE:
    kill-while-opening   unseal_from(..., hold=HOLD) and SIGKILL itself from the progress
                         callback after the first chunk (before anything is committed)
    kill-after-commit    unseal_from(..., hold=True), then SIGKILL itself before acknowledging
    open-ack             unseal_from(..., hold=True), print a JSON line, acknowledge, exit 0
    open                 plain unseal_from, print a JSON line, exit 0

A JSON line on stdout: {"redelivered": bool, "sha256": hex of the decoded bytes}; an error
prints {"error": "<type name>"} and exits 3.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import sealpack
from sealpack.keys import KeyBundle, KeyStore

PASSPHRASE = b"crash test"


def _die(*_: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(mode: str, store_dir: str, blob: str, bundle_json: str) -> int:
    sender = KeyBundle.from_json(Path(bundle_json).read_text())
    store = KeyStore.open(store_dir, passphrase=PASSPHRASE)
    hold = mode != "open"
    progress = (
        (lambda done, total: _die() if done < total else None)
        if mode.startswith("kill-while")
        else None
    )
    try:
        obj, info = sealpack.unseal_from(
            blob,
            recipient=store,
            senders=[sender],
            hold=hold,
            with_metadata=True,
            progress=progress,
        )
    except sealpack.SealpackError as error:
        print(json.dumps({"error": type(error).__name__}), flush=True)
        return 3
    if mode == "kill-after-commit":
        _die()
    digest = hashlib.sha256(obj["data"]).hexdigest()
    print(json.dumps({"redelivered": info.redelivered, "sha256": digest}), flush=True)
    if hold:
        sealpack.acknowledge(store, info)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
