"""The exchange CLI: peer init, send, receive, trust list/accept."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.cli import exchange as exchange_cli
from sealpack.cli import trust as trust_cli
from sealpack.keys import Identity, KeyStore


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sealpack")
    subparsers = parser.add_subparsers(dest="command", required=True)
    exchange_cli.register(subparsers)
    trust_cli.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture(autouse=True)
def fast_keystores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(exchange_cli.PASSPHRASE_ENV, "correct horse")
    original = KeyStore.create.__func__  # type: ignore[attr-defined]

    def create(cls: type[KeyStore], path: Path, identity: Identity, **kw: object) -> KeyStore:
        kw.setdefault("scrypt_n", 2**10)
        return original(cls, path, identity, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(KeyStore, "create", classmethod(create))


def test_init_send_receive_trust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = str(tmp_path / "site")
    alice_keys, bob_keys = str(tmp_path / "ka"), str(tmp_path / "kb")
    assert run(["peer", "init", "alice", "--root", site, "--keystore", alice_keys]) == 0
    assert run(["peer", "init", "bob", "--root", site, "--keystore", bob_keys]) == 0
    assert "fingerprint" in capsys.readouterr().out
    document = tmp_path / "report.csv"
    document.write_bytes(b"a,b\n1,2\n")
    send = ["send", "--root", site, "--keystore", alice_keys, "--to", "bob", str(document)]
    assert run(send) == 0
    out_dir = tmp_path / "received"
    receive = ["receive", "--root", site, "--keystore", bob_keys, "--out", str(out_dir)]
    assert run(receive) == 0
    assert (out_dir / "alice" / "report.csv").read_bytes() == b"a,b\n1,2\n"
    assert "1 message(s) received" in capsys.readouterr().out
    assert run(["trust", "list", "--keystore", bob_keys]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("alice  ")
    assert run(["trust", "accept", "alice", "--root", site, "--keystore", bob_keys]) == 0
    assert "trusted alice" in capsys.readouterr().out
    assert run([*receive, "--watch", "--timeout", "0.1"]) == 0


def test_received_file_names_cannot_escape(tmp_path: Path) -> None:
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site, "--keystore", str(tmp_path / "ka")])
    run(["peer", "init", "bob", "--root", site, "--keystore", str(tmp_path / "kb")])
    evil = tmp_path / ".bashrc"
    evil.write_bytes(b"x")
    run(["send", "--root", site, "--keystore", str(tmp_path / "ka"), "--to", "bob", str(evil)])
    out_dir = tmp_path / "out"
    run(["receive", "--root", site, "--keystore", str(tmp_path / "kb"), "--out", str(out_dir)])
    assert [p.name for p in (out_dir / "alice").iterdir()] == ["bashrc"]


def test_errors_are_sealpack_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = str(tmp_path / "site")
    keys = str(tmp_path / "ka")
    run(["peer", "init", "alice", "--root", site, "--keystore", keys])
    with pytest.raises(errors.KeyStoreError, match="already exists"):
        run(["peer", "init", "alice", "--root", site, "--keystore", keys])
    with pytest.raises(errors.TransportError, match="cannot read"):
        run(["send", "--root", site, "--keystore", keys, "--to", "bob", str(tmp_path / "nope")])
    monkeypatch.setenv(exchange_cli.PASSPHRASE_ENV, "wrong")
    with pytest.raises(errors.WrongPassphraseError):
        run(["receive", "--root", site, "--keystore", keys])


def test_through_main_with_quarantine_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sealpack.cli import main as cli_main

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("exchange", "trust"))
    site = str(tmp_path / "site")
    ka, kb = str(tmp_path / "ka"), str(tmp_path / "kb")
    assert cli_main.main(["peer", "init", "alice", "--root", site, "--keystore", ka]) == 0
    assert cli_main.main(["peer", "init", "bob", "--root", site, "--keystore", kb]) == 0
    from sealpack.exchange import DirectoryTransport

    DirectoryTransport(site).deliver("bob", b"garbage", sender="alice")
    capsys.readouterr()
    assert cli_main.main(["receive", "--root", site, "--keystore", kb]) == 14
    captured = capsys.readouterr()
    assert "0 message(s) received" in captured.out
    assert "quarantined" in captured.err
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    missing = ["send", "--root", site, "--keystore", ka, "--to", "carol", str(document)]
    assert cli_main.main(missing) == 13  # TransportError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home folder and no $SEALPACK_KEYSTORE: the per-name default applies."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(exchange_cli.KEYSTORE_ENV, raising=False)
    return tmp_path / "home"


def alice_sends_bob_a_file(tmp_path: Path, content: bytes = b"x") -> str:
    """Init alice and bob in the default key stores; alice sends bob ``doc.txt``."""
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    document = tmp_path / "doc.txt"
    document.write_bytes(content)
    run(["send", "--root", site, "--as", "alice", "--to", "bob", str(document)])
    return site


def test_default_key_store_is_per_peer_name(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = str(tmp_path / "site")
    assert run(["peer", "init", "alice", "--root", site]) == 0
    assert run(["trust", "list"]) == 0  # the only key store needs no --as
    assert run(["peer", "init", "bob", "--root", site]) == 0  # a second peer on one machine
    stores = home / ".sealpack" / "keystores"
    assert sorted(path.name for path in stores.iterdir()) == ["alice", "bob"]
    document = tmp_path / "note.txt"
    document.write_bytes(b"hi")
    assert run(["send", "--root", site, "--as", "alice", "--to", "bob", str(document)]) == 0
    with pytest.raises(errors.KeyStoreError, match=r"several \(alice, bob\)"):
        run(["receive", "--root", site, "--out", str(tmp_path / "out")])
    out = ["--out", str(tmp_path / "out")]
    assert run(["receive", "--root", site, "--as", "bob", *out]) == 0
    assert (tmp_path / "out" / "alice" / "note.txt").read_bytes() == b"hi"
    with pytest.raises(errors.KeyStoreError, match="holds 'alice', not 'bob'"):
        run(["trust", "list", "--keystore", str(stores / "alice"), "--as", "bob"])


def test_no_key_store_is_a_clear_error(tmp_path: Path, home: Path) -> None:
    with pytest.raises(errors.KeyStoreError, match="holds none: pass --as NAME"):
        run(["receive", "--root", str(tmp_path / "site")])


def test_env_key_store_wins_over_the_default(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(exchange_cli.KEYSTORE_ENV, str(tmp_path / "env-store"))
    assert run(["peer", "init", "alice", "--root", str(tmp_path / "site")]) == 0
    assert (tmp_path / "env-store").is_dir()
    assert not (home / ".sealpack").exists()


def test_trust_list_accepts_root_and_reports_changes(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    run(["trust", "accept", "alice", "--root", site, "--as", "bob"])
    capsys.readouterr()
    assert run(["trust", "list", "--root", site, "--as", "bob"]) == 0
    assert "(matches the published bundle)" in capsys.readouterr().out
    run(["peer", "init", "alice", "--root", site, "--keystore", str(tmp_path / "impostor")])
    capsys.readouterr()
    assert run(["trust", "list", "--root", site, "--as", "bob"]) == 0
    assert "CHANGED: published" in capsys.readouterr().out


def test_receive_never_overwrites_a_file_with_the_same_name(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site, out = str(tmp_path / "site"), tmp_path / "out"
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    document = tmp_path / "weights.bin"
    for content in (b"first", b"second"):
        document.write_bytes(content)
        run(["send", "--root", site, "--as", "alice", "--to", "bob", str(document)])
    (out / "alice").mkdir(parents=True)
    (out / "alice" / "weights.bin").write_bytes(b"already here")
    capsys.readouterr()
    assert run(["receive", "--root", site, "--as", "bob", "--out", str(out)]) == 0
    files = {path.name: path.read_bytes() for path in (out / "alice").iterdir()}
    assert sorted(files.values()) == [b"already here", b"first", b"second"]
    assert files["weights.bin"] == b"already here"
    renamed = sorted(name for name in files if name != "weights.bin")
    assert all(name.startswith("weights.") and name.endswith("-alice.bin") for name in renamed)
    printed = capsys.readouterr().out
    assert all(name in printed for name in renamed)


def test_receive_no_trust_new_quarantines_first_contact(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = alice_sends_bob_a_file(tmp_path)
    document = tmp_path / "doc.txt"
    capsys.readouterr()
    out = ["--out", str(tmp_path / "out")]
    code = run(["receive", "--root", site, "--as", "bob", "--no-trust-new", *out])
    assert code == exchange_cli.EXIT_QUARANTINED
    captured = capsys.readouterr()
    assert "0 message(s) received" in captured.out
    assert ": untrusted" in captured.err
    assert "sealpack trust accept alice" in captured.err
    run(["trust", "accept", "alice", "--root", site, "--as", "bob"])
    run(["send", "--root", site, "--as", "alice", "--to", "bob", str(document)])
    capsys.readouterr()
    assert run(["receive", "--root", site, "--as", "bob", "--no-trust-new", *out]) == 0
    assert "1 message(s) received" in capsys.readouterr().out


def test_default_receive_announces_first_contact(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = alice_sends_bob_a_file(tmp_path)
    capsys.readouterr()
    run(["receive", "--root", site, "--as", "bob", "--out", str(tmp_path / "out")])
    assert "first contact: pinned alice" in capsys.readouterr().out
