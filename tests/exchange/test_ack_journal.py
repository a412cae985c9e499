"""The local journal that finishes an acknowledgement a crash cut short (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

from sealpack.exchange.ack_journal import AckJournal
from sealpack.exchange.message_ids import new_message_id
from sealpack.session import SessionReceipt


def test_entries_are_pending_until_ended(tmp_path: Path) -> None:
    journal = AckJournal(tmp_path / "acks")
    assert journal.pending() == []
    message_id = new_message_id("alice")
    journal.begin(message_id, b"\x01" * 16, b"\x02" * 16)
    assert AckJournal(tmp_path / "acks").pending() == [(message_id, b"\x01" * 16, b"\x02" * 16)]
    journal.end(message_id)
    assert journal.pending() == []
    assert (tmp_path / "acks").stat().st_mode & 0o777 == 0o700


def test_malformed_entries_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "acks"
    folder.mkdir()
    (folder / f"{new_message_id('a')}.json").write_bytes(b"[" * 5000)
    (folder / f"{new_message_id('a')}.json").write_bytes(b'{"message_id": "zz"}')
    (folder / "not-an-id.json").write_bytes(b'{"message_id": "00", "sender_key_id": "00"}')
    assert AckJournal(folder).pending() == []
    assert list(folder.iterdir()) == []


def test_without_a_key_store_there_is_no_journal() -> None:
    journal = AckJournal(None)
    journal.begin(new_message_id("a"), b"x", b"y")
    assert journal.pending() == []


def test_ratchet_entries_are_kept_apart_and_pending_until_ended(tmp_path: Path) -> None:
    journal = AckJournal(tmp_path / "acks")
    sealed_id, ratchet_id = new_message_id("alice"), new_message_id("alice")
    receipt = SessionReceipt(b"\x03" * 16, b"\x04" * 32, 7)
    journal.begin(sealed_id, b"\x01" * 16, b"\x02" * 16)
    journal.begin_ratchet(ratchet_id, b"\x05" * 32, receipt)
    reopened = AckJournal(tmp_path / "acks")
    assert reopened.pending() == [(sealed_id, b"\x01" * 16, b"\x02" * 16)]
    assert reopened.pending_ratchet() == [(ratchet_id, b"\x05" * 32, receipt)]
    journal.end(ratchet_id)
    assert journal.pending_ratchet() == []
    assert len(journal.pending()) == 1


def test_malformed_ratchet_entries_are_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "acks"
    folder.mkdir()
    good = {"peer": "05" * 32, "session_id": "03" * 16, "ratchet_key": "04" * 32}
    (folder / f"{new_message_id('a')}.ratchet").write_bytes(b"{" * 5000)
    (folder / f"{new_message_id('a')}.ratchet").write_text(json.dumps({**good, "number": True}))
    (folder / f"{new_message_id('a')}.ratchet").write_text(json.dumps(good))
    (folder / "not-an-id.ratchet").write_text(json.dumps({**good, "number": 1}))
    assert AckJournal(folder).pending_ratchet() == []
    assert list(folder.iterdir()) == []
