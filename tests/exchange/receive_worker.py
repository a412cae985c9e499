"""A receiving application, run as a process that the crash tests kill (not collected).

Usage:
    receive_worker.py SITE KEYS NAME MODE LOG [COUNT]

It opens the key store KEYS (passphrase ``pw``) as peer NAME of datasite SITE and
receives with ``Peer.iter_messages`` (or ``watch`` in mode ``soak``, until COUNT
distinct messages were processed). For every message handed over it appends
``{"delivered": [sender, seq], "redelivered": bool}`` to LOG.deliveries; its
"processing" appends ``{"processed": [sender, seq], "digest": sha256(data)}`` to
LOG, unless the message is a redelivery already in LOG (idempotent processing, as
docs/spec/datasite.md asks of applications). Both files are fsynced per line.

MODE picks the moment the process kills itself with SIGKILL (first message only):
``progress`` (inside the progress callback, mid-decryption), ``opened`` (opening
committed, before the application has the message), ``processing`` (processed,
not acknowledged), ``ack-between`` (blob removed, key store not yet told),
``acked`` (right after acknowledging), ``session-opened`` and ``session-ack-between``
(the same moments for a ratchet message), ``none`` and ``soak`` (never).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sealpack import api
from sealpack.exchange import Peer
from sealpack.keys import KeyStore
from sealpack.session import Session


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def append(path: Path, record: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def processed(log: Path) -> set[tuple[str, int]]:
    if not log.exists():
        return set()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line]
    return {(r["processed"][0], r["processed"][1]) for r in lines}


def install_kill_points(mode: str) -> None:
    """Wrap the public API so the process dies at the chosen moment."""
    real_open, real_ack = api.unseal_from, api.acknowledge

    def unseal_from(*args: Any, **kwargs: Any) -> Any:
        result = real_open(*args, **kwargs)
        if mode == "opened":
            die()
        return result

    def acknowledge(*args: Any, **kwargs: Any) -> None:
        if mode == "ack-between":
            die()
        real_ack(*args, **kwargs)
        if mode == "acked":
            die()

    api.unseal_from = unseal_from  # type: ignore[assignment]
    api.acknowledge = acknowledge  # type: ignore[assignment]
    install_session_kill_points(mode)


def install_session_kill_points(mode: str) -> None:
    """The same moments for ratchet messages (issue 15): opened, between file and key."""
    real_open, real_ack = Session.open_message, Session.acknowledge

    def open_message(self: Session, *args: Any, **kwargs: Any) -> Any:
        result = real_open(self, *args, **kwargs)
        if mode == "session-opened":
            die()
        return result

    def acknowledge(self: Session, *args: Any, **kwargs: Any) -> None:
        if mode == "session-ack-between":
            die()
        real_ack(self, *args, **kwargs)

    Session.open_message = open_message  # type: ignore[method-assign]
    Session.acknowledge = acknowledge  # type: ignore[method-assign]


def main(site: str, keys: str, name: str, mode: str, log_name: str, count: str = "0") -> None:
    log = Path(log_name)
    deliveries = Path(log_name + ".deliveries")
    install_kill_points(mode)
    peer = Peer(name, site, KeyStore.open(keys, passphrase=b"pw"))

    def progress(done: int, total: int) -> None:
        if mode == "progress" and 0 < done < total:
            die()

    if mode == "soak" and len(processed(log)) >= int(count):
        # Everything was processed before this restart: one pass finishes what a kill
        # cut short (an acknowledgement, a redelivery), without watching for 120 s.
        messages = peer.iter_messages()
    elif mode == "soak":
        messages = peer.watch(timeout=120, min_interval=0.01, max_interval=0.05)
    else:
        messages = peer.iter_messages(progress=progress)
    for message in messages:
        key = (message.sender, int(message.metadata["seq"]))
        append(deliveries, {"delivered": list(key), "redelivered": message.redelivered})
        if not (message.redelivered and key in processed(log)):
            data = message.obj["data"] if isinstance(message.obj, dict) else message.obj
            digest = hashlib.sha256(data).hexdigest()
            append(log, {"processed": list(key), "digest": digest})
        if mode == "processing":
            die()
        if mode == "soak" and len(processed(log)) >= int(count):
            message.ack()
            break
    peer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
