"""The exchange CLI: peer init, send, receive, trust list/accept."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.cli import exchange as exchange_cli
from sealpack.keys import Identity, KeyStore


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sealpack")
    subparsers = parser.add_subparsers(dest="command", required=True)
    exchange_cli.register(subparsers)
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

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ("exchange",))
    site = str(tmp_path / "site")
    ka, kb = str(tmp_path / "ka"), str(tmp_path / "kb")
    assert cli_main.main(["peer", "init", "alice", "--root", site, "--keystore", ka]) == 0
    assert cli_main.main(["peer", "init", "bob", "--root", site, "--keystore", kb]) == 0
    from sealpack.exchange import DirectoryTransport

    DirectoryTransport(site).deliver("bob", b"garbage", sender="alice")
    capsys.readouterr()
    assert cli_main.main(["receive", "--root", site, "--keystore", kb]) == 0
    captured = capsys.readouterr()
    assert "0 message(s) received" in captured.out
    assert "quarantined" in captured.err
    document = tmp_path / "doc.txt"
    document.write_bytes(b"x")
    missing = ["send", "--root", site, "--keystore", ka, "--to", "carol", str(document)]
    assert cli_main.main(missing) == 13  # TransportError
