"""Issue 13 in the datasite: Peer.receive(expect=) refuses a payload of the wrong shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sealpack
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity

GLOBAL = {"w": np.zeros((4, 3), dtype=np.float32), "b": np.zeros(3, dtype=np.float32)}


def _peers(tmp_path: Path) -> tuple[DirectoryTransport, Peer, Peer]:
    site = DirectoryTransport(tmp_path)
    server = Peer("server", site, Identity.generate("server", one_time_prekeys=4))
    client = Peer("client", site, Identity.generate("client", one_time_prekeys=4))
    return site, server, client


def test_an_update_of_the_expected_shape_is_delivered(tmp_path: Path) -> None:
    _, server, client = _peers(tmp_path)
    update = {"w": np.ones((4, 3), dtype=np.float32), "b": np.ones(3, dtype=np.float32)}
    client.send(update, to=["server"])
    (message,) = server.receive(expect=sealpack.like(GLOBAL))
    assert np.array_equal(message.obj["w"], update["w"])


def test_an_update_of_another_dtype_is_quarantined_not_burned(tmp_path: Path) -> None:
    site, server, client = _peers(tmp_path)
    wrong = {"w": np.ones((4, 3), dtype=np.float64), "b": np.ones(3, dtype=np.float32)}
    (message_id,) = client.send(wrong, to=["server"])
    assert server.receive(expect=sealpack.like(GLOBAL)) == []
    (record,) = server.quarantined()
    assert record.reason == "malformed"
    assert "$.w" in record.detail
    blob = site.quarantined_blob_path("server", message_id)
    blob.rename(tmp_path / "server" / "inbox" / blob.name)  # nothing was burned
    (message,) = server.receive()
    assert message.obj["w"].dtype == np.float64
