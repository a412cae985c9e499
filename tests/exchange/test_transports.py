"""Behaviour shared by both transports, plus directory-specific safety checks."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.exchange import DirectoryTransport, MemoryTransport, Transport
from sealpack.exchange.quarantine import QuarantineRecord, decode_record, encode_record
from sealpack.exchange.transport import check_peer_name, new_message_id, sender_hint


@pytest.fixture(params=["memory", "directory"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    made: Transport = (
        MemoryTransport() if request.param == "memory" else DirectoryTransport(tmp_path / "site")
    )
    for name in ("alice", "bob"):
        made.register_peer(name)
    yield made


PREKEYS = {i: bytes([i]) * 32 for i in range(1, 6)}


def test_is_a_transport(transport: Transport) -> None:
    assert isinstance(transport, Transport)
    assert transport.peers() == ["alice", "bob"]


def test_bundle_round_trip(transport: Transport) -> None:
    transport.publish_bundle("bob", '{"b": 1}', PREKEYS)
    assert transport.fetch_bundle("bob") == '{"b": 1}'
    with pytest.raises(errors.TransportError, match="bundle"):
        transport.fetch_bundle("alice")
    with pytest.raises(errors.TransportError):
        transport.fetch_bundle("nobody")


def test_each_prekey_is_claimed_once(transport: Transport) -> None:
    transport.publish_bundle("bob", "{}", PREKEYS)
    assert transport.available_one_time_prekeys("bob") == 5
    claimed = [transport.claim_one_time_prekey("bob") for _ in range(7)]
    assert sorted(c for c in claimed if c is not None) == [1, 2, 3, 4, 5]
    assert claimed[5:] == [None, None]
    assert transport.available_one_time_prekeys("bob") == 0


def test_republish_never_reoffers_claimed_and_withdraws_missing(transport: Transport) -> None:
    transport.publish_bundle("bob", "{}", PREKEYS)
    first = transport.claim_one_time_prekey("bob")
    assert first == 1
    # 1 was claimed (still unconsumed), 5 was consumed elsewhere, 6 is new.
    republished = {k: v for k, v in PREKEYS.items() if k != 5} | {6: b"\x06" * 32}
    transport.publish_bundle("bob", "{}", republished)
    remaining = []
    while (key_id := transport.claim_one_time_prekey("bob")) is not None:
        remaining.append(key_id)
    assert sorted(remaining) == [2, 3, 4, 6]
    # Once the owner consumed 1 and 2, republishing forgets their claims.
    transport.publish_bundle("bob", "{}", {3: b"3" * 32, 4: b"4" * 32, 6: b"6" * 32})
    assert transport.available_one_time_prekeys("bob") == 0
    live = {3: b"3" * 32, 4: b"4" * 32, 6: b"6" * 32}
    transport.publish_bundle("bob", "{}", live | {7: b"7" * 32})
    assert transport.claim_one_time_prekey("bob") == 7


def test_deliver_list_read_acknowledge(transport: Transport) -> None:
    first = transport.deliver("bob", b"one", sender="alice")
    second = transport.deliver("bob", lambda out: out.write(b"two"), sender="alice")
    assert transport.list_inbox("bob") == [first, second]
    assert transport.list_inbox("alice") == []
    assert transport.read_message("bob", first) == b"one"
    with transport.open_message("bob", second) as stream:
        assert stream.read() == b"two"
    transport.acknowledge("bob", first)
    transport.acknowledge("bob", second, archive=True)
    assert transport.list_inbox("bob") == []
    with pytest.raises(errors.TransportError):
        transport.read_message("bob", first)
    transport.acknowledge("bob", first)  # idempotent


def test_quarantine_keeps_blob_and_reason(transport: Transport) -> None:
    message_id = transport.deliver("bob", b"bad", sender="alice")
    record = transport.quarantine("bob", message_id, reason="tampered", detail="x")
    assert record.sender_hint == "alice"
    assert transport.list_inbox("bob") == []
    assert transport.list_quarantine("bob") == [record]
    with pytest.raises(errors.TransportError):
        transport.quarantine("bob", message_id, reason="tampered", detail="again")


def test_failed_streaming_write_leaves_nothing(transport: Transport) -> None:
    def broken(out: BinaryIO) -> None:
        out.write(b"partial")
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        transport.deliver("bob", broken, sender="alice")
    assert transport.list_inbox("bob") == []


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-a", ".hidden", "..", "a b", "x" * 65, 7, "é"])
def test_bad_peer_names_are_refused(transport: Transport, bad: object) -> None:
    with pytest.raises(errors.TransportError, match="invalid peer name"):
        transport.register_peer(bad)  # type: ignore[arg-type]


BAD_IDS = ["../../etc/passwd", "x", "", "0" * 20 + "-zz-a", "0" * 20 + "-" + "a" * 16 + "-../x"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_message_ids_are_refused(transport: Transport, bad: str) -> None:
    with pytest.raises(errors.TransportError, match="invalid message id"):
        transport.read_message("bob", bad)
    with pytest.raises(errors.TransportError):
        transport.acknowledge("bob", bad)


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}", fullmatch=True))
def test_message_id_names_its_sender(name: str) -> None:
    assert check_peer_name(name) == name
    assert sender_hint(new_message_id(name)) == name


@given(
    st.builds(
        QuarantineRecord,
        message_id=st.text(),
        reason=st.text(),
        detail=st.text(),
        sender_hint=st.text(),
        quarantined_at=st.integers(min_value=0, max_value=2**40),
    )
)
def test_reason_file_round_trip(record: QuarantineRecord) -> None:
    assert decode_record(encode_record(record)) == record


@given(st.binary(max_size=200))
def test_hostile_reason_files_raise_transport_error(data: bytes) -> None:
    with contextlib.suppress(errors.TransportError):
        decode_record(data)


@pytest.mark.parametrize(
    "data", [b"", b"[]", b"{}", b'{"message_id": 1}', b"\xff", b"[" * 5000, b'"x"']
)
def test_malformed_reason_files(data: bytes) -> None:
    with pytest.raises(errors.TransportError, match="reason file"):
        decode_record(data)


# --- directory transport specifics -----------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> DirectoryTransport:
    made = DirectoryTransport(tmp_path / "site")
    made.register_peer("bob")
    return made


def test_layout_on_disk(site: DirectoryTransport) -> None:
    site.publish_bundle("bob", '{"k": 1}', {7: b"\x07" * 32})
    bob = site.root / "bob"
    assert (bob / "public" / "bundle.json").read_text() == '{"k": 1}'
    assert (bob / "public" / "prekeys" / "7.json").is_file()
    assert site.claim_one_time_prekey("bob") == 7
    assert [p.name.split("-")[0] for p in (bob / "public" / "claimed").iterdir()] == ["7"]
    assert not (bob / "public" / "prekeys" / "7.json").exists()
    message_id = site.deliver("bob", b"blob", sender="alice")
    assert (bob / "inbox" / f"{message_id}.sealed").read_bytes() == b"blob"
    site.quarantine("bob", message_id, reason="tampered", detail="d")
    assert (bob / "quarantine" / f"{message_id}.sealed").read_bytes() == b"blob"
    assert (bob / "quarantine" / f"{message_id}.reason.json").is_file()
    assert site.quarantined_blob_path("bob", message_id).is_file()
    site.publish_bundle("bob", '{"k": 2}', {})  # 7 was consumed: its claim is forgotten
    assert list((bob / "public" / "claimed").iterdir()) == []


def test_reader_ignores_temporary_and_foreign_files(site: DirectoryTransport) -> None:
    inbox = site.root / "bob" / "inbox"
    (inbox / ".abc.tmp").write_bytes(b"half")
    (inbox / "notes.txt").write_bytes(b"x")
    (inbox / "junk.sealed").write_bytes(b"x")
    assert site.list_inbox("bob") == []


def test_symlinks_and_fifos_are_not_read(site: DirectoryTransport, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"private")
    inbox = site.root / "bob" / "inbox"
    link_id = new_message_id("eve")
    os.symlink(secret, inbox / f"{link_id}.sealed")
    fifo_id = new_message_id("eve")
    os.mkfifo(inbox / f"{fifo_id}.sealed")
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        site.read_message("bob", link_id)
    with pytest.raises(errors.TransportError, match="no readable message"):
        site.read_message("bob", fifo_id)


def test_oversized_bundle_is_refused(site: DirectoryTransport) -> None:
    (site.root / "bob" / "public" / "bundle.json").write_bytes(b" " * ((4 << 20) + 1))
    with pytest.raises(errors.TransportError):
        site.fetch_bundle("bob")


def test_stale_temporaries_are_cleaned_on_register(site: DirectoryTransport) -> None:
    inbox = site.root / "bob" / "inbox"
    stale = inbox / ".dead.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    fresh = inbox / ".live.tmp"
    fresh.write_bytes(b"x")
    site.register_peer("bob")
    assert not stale.exists()
    assert fresh.exists()


def test_memory_open_message_is_a_stream() -> None:
    memory = MemoryTransport()
    memory.register_peer("bob")
    message_id = memory.deliver("bob", b"abc", sender="bob")
    with memory.open_message("bob", message_id) as stream:
        assert isinstance(stream, io.BytesIO)
        assert stream.read(2) == b"ab"
    memory.quarantine("bob", message_id, reason="r", detail="d")
    assert memory.quarantined_blob("bob", message_id) == b"abc"


@given(st.text(max_size=120))
def test_accepted_message_ids_are_safe_file_names(candidate: str) -> None:
    from sealpack.exchange.transport import check_message_id

    try:
        accepted = check_message_id(candidate)
    except errors.TransportError:
        return
    assert "/" not in accepted and "\x00" not in accepted
    assert not accepted.startswith(".")
    assert accepted not in (".", "..")


@given(st.text(alphabet="0123456789-.jsonx", max_size=30))
def test_foreign_prekey_file_names_are_ignored(file_name: str) -> None:
    from sealpack.exchange.directory_sites import prekey_id

    key_id = prekey_id(file_name)
    stem = file_name.removesuffix(".json")
    if file_name.endswith(".json") and stem.isdigit() and len(stem) <= 18:
        assert key_id == int(stem)
    else:
        assert key_id == -1
