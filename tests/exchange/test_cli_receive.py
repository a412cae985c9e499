"""``sealpack receive`` against hostile senders and folders (issues 10.8, 19.9, 19.10).

Save (fsync) before acknowledging; sender-chosen file names reduced to safe names
and escaped when printed; a distinct exit status when blobs were quarantined; a
hostile quarantine record never stops a run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sealpack.cli import exchange as exchange_cli
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.exchange.message_ids import new_message_id
from sealpack.exchange.received import printable, safe_file_name
from sealpack.keys import Identity, KeyStore

FAST_SCRYPT = 2**10


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sealpack")
    exchange_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasite with bob (a CLI key store at tmp/kb) and a sender alice (a Peer)."""
    monkeypatch.setenv(exchange_cli.PASSPHRASE_ENV, "pw")
    root = tmp_path / "site"
    identity = Identity.generate("bob", one_time_prekeys=8)
    KeyStore.create(tmp_path / "kb", identity, passphrase=b"pw", scrypt_n=FAST_SCRYPT).close()
    with KeyStore.open(tmp_path / "kb", passphrase=b"pw") as store:
        Peer("bob", root, store)
    return root


def alice(site: Path) -> Peer:
    return Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))


def receive(site: Path, out: Path) -> int:
    keys = site.parent / "kb"
    return run(["receive", "--root", str(site), "--keystore", str(keys), "--out", str(out)])


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("report\x00.csv", "report.csv"),
        ("\x1b]0;pwned\x07notes.txt", "]0;pwnednotes.txt"),
        ("\x1b[2J\x1b[31mred.txt", "[2J[31mred.txt"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("...", "message.bin"),
        ("", "message.bin"),
        (42, "message.bin"),
    ],
)
def test_sender_chosen_names_become_safe_names(raw: object, safe: str) -> None:
    assert safe_file_name(raw) == safe


def test_unbounded_names_are_bounded_in_bytes() -> None:
    name = safe_file_name("é" * 100_000 + ".bin")
    assert name.endswith(".bin")
    assert len(name.encode("utf-8")) <= 200
    assert safe_file_name("x" * 10**6) == "x" * 100


def test_printed_text_is_escaped() -> None:
    assert printable("a\x1b[31mb\x00c\u202e") == "a\\x1b[31mb\\x00c\\u202e"


def test_hostile_file_name_is_saved_safely_and_printed_escaped(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = "\x1b]0;owned\x07../rep\x00ort\x1b[31m.txt"
    sender = alice(site)
    sender.send(b"data", to=["bob"], metadata={"filename": hostile})
    sender.send(b"long", to=["bob"], metadata={"filename": "A" * 5000 + ".txt"})
    assert receive(site, tmp_path / "out") == 0
    saved = {p.name: p.read_bytes() for p in (tmp_path / "out" / "alice").iterdir()}
    assert saved == {"report[31m.txt": b"data", "A" * 100 + ".txt": b"long"}
    assert "\x1b" not in capsys.readouterr().out


def test_a_message_is_acknowledged_only_after_it_was_saved(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice(site).send(b"precious", to=["bob"], metadata={"filename": "model.bin"})
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"a file where the output folder should be")
    assert receive(site, blocked) == exchange_cli.EXIT_NOT_SAVED
    assert "kept for the next run" in capsys.readouterr().err
    assert len(DirectoryTransport(site).list_inbox("bob")) == 1  # not lost
    assert receive(site, tmp_path / "out") == 0
    assert (tmp_path / "out" / "alice" / "model.bin").read_bytes() == b"precious"
    assert "(redelivered)" in capsys.readouterr().out
    assert DirectoryTransport(site).list_inbox("bob") == []


def test_one_unsavable_message_does_not_stop_the_others(site: Path, tmp_path: Path) -> None:
    alice(site).send(b"blocked", to=["bob"], metadata={"filename": "a.bin"})
    Peer("carol", site, Identity.generate("carol", one_time_prekeys=2)).send(
        b"fine", to=["bob"], metadata={"filename": "c.bin"}
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "alice").write_bytes(b"a file where alice's folder should be")
    assert receive(site, out) == exchange_cli.EXIT_NOT_SAVED
    assert (out / "carol" / "c.bin").read_bytes() == b"fine"
    (out / "alice").unlink()
    assert receive(site, out) == 0
    assert (out / "alice" / "a.bin").read_bytes() == b"blocked"


def test_receive_exits_distinctly_when_it_quarantined_blobs(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transport = DirectoryTransport(site)
    transport.deliver("bob", b"tampered junk", sender="mallory")
    alice(site).send(b"good", to=["bob"], metadata={"filename": "good.bin"})
    assert receive(site, tmp_path / "out") == exchange_cli.EXIT_QUARANTINED == 14
    captured = capsys.readouterr()
    assert ": tampered" in captured.err
    assert "1 message(s) received" in captured.out
    assert receive(site, tmp_path / "out") == 0  # nothing new quarantined


def test_hostile_quarantine_records_never_stop_receive(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = site / "bob" / "quarantine"
    message_id = new_message_id("mallory")
    (folder / f"{message_id}.reason.json").write_bytes(b'{"quarantined_at": ' + b"9" * 5000 + b"}")
    (folder / f"{new_message_id('mallory')}.reason.json").write_bytes(b"[" * 100_000)
    escape_id = new_message_id("mallory")
    record = (
        '{"detail": "", "message_id": "\\u001b[2Jx", "quarantined_at": 1, '
        '"reason": "\\u001b]0;t\\u0007", "sender_hint": "m"}'
    )
    (folder / f"{escape_id}.reason.json").write_text(record)
    alice(site).send(b"good", to=["bob"], metadata={"filename": "good.bin"})
    assert receive(site, tmp_path / "out") == 0
    assert (tmp_path / "out" / "alice" / "good.bin").read_bytes() == b"good"


def test_a_redelivered_message_saved_before_a_crash_is_not_saved_twice(
    site: Path, tmp_path: Path
) -> None:
    from sealpack.exchange.received import save_received

    alice(site).send(b"model", to=["bob"], metadata={"filename": "m.bin"})
    with KeyStore.open(tmp_path / "kb", passphrase=b"pw") as store:
        bob = Peer("bob", site, store)
        (first,) = bob.iter_messages(auto_ack=False)
        saved = save_received(first, tmp_path / "out")  # ... and the process dies here
        (again,) = bob.iter_messages(auto_ack=False)
        assert again.redelivered
        assert save_received(again, tmp_path / "out") == saved
        again.ack()
    assert [p.name for p in (tmp_path / "out" / "alice").iterdir()] == ["m.bin"]


def test_a_second_file_with_a_long_name_is_saved(tmp_path: Path) -> None:
    """Failure (exchange review C.5; no attacker): two files from
    alice@openmined.org whose names reduce to the 200-byte bound (80 CJK
    characters). The second name is taken, and every fallback
    ``<stem>.<message id>[.<n>]<suffix>`` was over NAME_MAX (255 bytes): never
    saved, 'kept for the next run' for good. Now every candidate fits."""
    from sealpack.exchange.message import Message
    from sealpack.exchange.received import _candidate_names, save_received

    sender, name = "alice@openmined.org", "報" * 80 + ".csv"
    out = tmp_path / "out"
    first = Message(sender, {"filename": name}, b"one", message_id=new_message_id(sender))
    second = Message(sender, {"filename": name}, b"two", message_id=new_message_id(sender))
    save_received(first, out)
    saved = Path(save_received(second, out))
    assert saved.read_bytes() == b"two" and saved.name.endswith(".csv")
    assert second.message_id in saved.name
    longest = max(_candidate_names(safe_file_name(name), second.message_id), key=len)
    assert len(longest.encode()) <= 255


def test_sealpack_receive_still_saves_after_mallory_plants_a_temp_folder(
    site: Path, tmp_path: Path
) -> None:
    """Attack (exchange review C.2): an old folder named like a temporary file in
    bob's inbox made every `sealpack receive` exit 13 ("cannot create peer folder")
    and save nothing. Now the folder is skipped and the file is saved."""
    import os
    import secrets
    import time

    alice(site).send(b"the real update", to=["bob"], metadata={"filename": "u.bin"})
    planted = site / "bob" / "inbox" / f".{secrets.token_hex(8)}.tmp"
    (planted / "x").mkdir(parents=True)
    os.utime(planted, (time.time() - 7200, time.time() - 7200))
    out = tmp_path / "out"
    assert receive(site, out) == 0
    assert (out / "alice" / "u.bin").read_bytes() == b"the real update"


def test_an_object_that_is_not_bytes_is_kept_not_acknowledged(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failure (CLI review 5): a verified non-bytes object (a dict sent with Peer.send)
    was printed '(not saved)' and acknowledged: deleted with nothing saved. Now it is
    not acknowledged (exit 17, 'kept for the next run') and the Python API opens it."""
    sender = alice(site)
    sender.send({"weights": [1, 2, 3]}, to=["bob"])
    sender.send(b"file", to=["bob"], metadata={"filename": "f.bin"})
    out = tmp_path / "out"
    assert receive(site, out) == exchange_cli.EXIT_NOT_SAVED
    assert "dict object, not file bytes" in capsys.readouterr().err
    assert [p.name for p in (out / "alice").iterdir()] == ["f.bin"]
    assert len(DirectoryTransport(site).list_inbox("bob")) == 1
    with KeyStore.open(tmp_path / "kb", passphrase=b"pw") as store:
        (kept,) = Peer("bob", site, store).iter_messages()
    assert kept.obj == {"weights": [1, 2, 3]}


def test_first_contact_notice_survives_a_failed_first_save(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack (CLI review 6): the TOFU pin is made at verification but the 'first
    contact' notice was printed only after a successful save; a failed (or interrupted)
    first save hid it for good, so a new peer's file arrived with no prompt to compare
    its fingerprint. Now the notice comes before the save, exactly once."""
    Peer("mallory", site, Identity.generate("mallory", one_time_prekeys=2)).send(
        b"data", to=["bob"], metadata={"filename": "update.bin"}
    )
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"not a folder")
    assert receive(site, blocked) == exchange_cli.EXIT_NOT_SAVED
    first = capsys.readouterr().out
    assert "first contact: pinned mallory" in first
    assert receive(site, tmp_path / "out") == 0
    assert "first contact" not in capsys.readouterr().out
    assert (tmp_path / "out" / "mallory" / "update.bin").read_bytes() == b"data"
