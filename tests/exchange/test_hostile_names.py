"""Issue 19.8: prekey file names are ASCII digits of bounded length; anything else is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealpack.exchange import DirectoryTransport, Peer
from sealpack.exchange.directory_sites import claimed_prekey_id, prekey_id
from sealpack.keys import Identity


@pytest.mark.parametrize(
    "name",
    [
        "².json",
        "١٢.json",
        "\uff11.json",  # fullwidth digit one
        "-1.json",
        "+1.json",
        " 1.json",
        "1 .json",
        "1.json.tmp",
        "12345678901.json",
        "4294967296.json",
        ".json",
        "1.JSON",
        "1_0.json",
    ],
)
def test_non_ascii_or_unbounded_prekey_names_are_skipped(name: str) -> None:
    assert prekey_id(name) == -1


def test_ascii_prekey_names_parse() -> None:
    assert prekey_id("0.json") == 0
    assert prekey_id("4294967295.json") == 4294967295
    assert claimed_prekey_id("7-0123456789abcdef.json") == 7
    assert claimed_prekey_id("²-0123456789abcdef.json") == -1
    assert claimed_prekey_id("7-XYZ.json") == -1


def test_a_unicode_digit_file_breaks_no_send_publish_or_restart(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=2))
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    for folder in ("prekeys", "claimed"):
        (tmp_path / "bob" / "public" / folder / "².json").write_bytes(b"{}")
        (tmp_path / "bob" / "public" / folder / "²-0123456789abcdef.json").write_bytes(b"{}")
    alice.send(b"hello", to=["bob"])
    bob.publish()
    Peer("bob", site, bob.identity)  # restart
    assert [m.obj for m in bob.receive()] == [b"hello"]
    assert site.available_one_time_prekeys("bob") == 1
