"""CLI part 1 (sealpack.cli.keys) run through sealpack.cli.main.main."""

from __future__ import annotations

import json
import shutil
import stat
import warnings
from pathlib import Path

import pytest

from sealpack.cli import main as cli_main
from sealpack.keys import KeyBundle, KeyStore
from sealpack.keys.keystore import STATE_FILE
from tests.keys.stores import swap_in_unencrypted_key_file


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if "keys" not in cli_main.COMMAND_MODULES:
        monkeypatch.setattr(cli_main, "COMMAND_MODULES", (*cli_main.COMMAND_MODULES, "keys"))
    monkeypatch.setenv("SEALPACK_PASSPHRASE", "s3cret pass")
    monkeypatch.setenv("SEALPACK_KEYSTORE", str(tmp_path / "default"))


def run(*argv: str) -> int:
    return cli_main.main(list(argv))


def test_keygen_export_verify_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir = tmp_path / "alice"
    assert run("keygen", "alice", "--dir", str(store_dir), "--one-time-prekeys", "5") == 0
    out = capsys.readouterr().out
    assert "fingerprint:" in out
    assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700

    assert run("bundle", "export", "--dir", str(store_dir)) == 0
    printed = capsys.readouterr().out
    bundle = KeyBundle.from_json(printed)
    assert bundle.name == "alice" and len(bundle.one_time_prekeys) == 5
    assert bundle.fingerprint() in out

    bundle_file = tmp_path / "alice.json"
    assert run("bundle", "export", "--dir", str(store_dir), "--out", str(bundle_file)) == 0
    assert bundle_file.read_text() == printed
    assert run("bundle", "verify", str(bundle_file)) == 0
    assert "OK" in capsys.readouterr().out
    assert run("fingerprint", str(bundle_file)) == 0
    assert capsys.readouterr().out.strip() == f"alice: {bundle.fingerprint()}"


def test_default_dir_and_prekey_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keygen", "bob", "--one-time-prekeys", "1") == 0
    assert run("prekeys", "replenish", "-n", "3") == 0
    assert "4 one-time prekeys" in capsys.readouterr().out
    assert run("prekeys", "rotate", "--grace", "60") == 0
    assert "signed prekey is now 2" in capsys.readouterr().out
    assert run("bundle", "export") == 0
    bundle = KeyBundle.from_json(capsys.readouterr().out)
    assert bundle.signed_prekey.id == 2 and len(bundle.one_time_prekeys) == 4
    assert bundle.pq_prekey is not None  # rotated with the signed prekey, hybrid by default


def test_replenish_post_quantum_one_time_prekeys(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keygen", "dora", "--one-time-prekeys", "0") == 0
    assert run("prekeys", "replenish", "-n", "0", "--pq", "2") == 0
    assert "2 post-quantum one-time prekeys" in capsys.readouterr().out
    assert run("bundle", "export") == 0
    bundle = KeyBundle.from_json(capsys.readouterr().out)
    assert len(bundle.pq_one_time_prekeys) == 2


def test_wrong_passphrase_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("keygen", "carol", "--dir", str(tmp_path / "c"), "--one-time-prekeys", "0") == 0
    monkeypatch.setenv("SEALPACK_PASSPHRASE", "wrong")
    assert run("bundle", "export", "--dir", str(tmp_path / "c")) == 8
    err = capsys.readouterr().err
    assert err.startswith("sealpack: error:") and "passphrase" in err


def test_keygen_refuses_existing_store(tmp_path: Path) -> None:
    assert run("keygen", "dave", "--dir", str(tmp_path / "d"), "--one-time-prekeys", "0") == 0
    assert run("keygen", "dave", "--dir", str(tmp_path / "d"), "--one-time-prekeys", "0") == 9


def test_unencrypted_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.warns(UserWarning):
        code = run(
            "keygen",
            "eve",
            "--dir",
            str(tmp_path / "e"),
            "--unencrypted",
            "--one-time-prekeys",
            "0",
        )
    assert code == 0
    assert "UNENCRYPTED" in capsys.readouterr().err
    with pytest.warns(UserWarning):
        assert not KeyStore.open(tmp_path / "e", passphrase=None).encrypted


def test_verify_rejects_bad_bundles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("keygen", "fred", "--dir", str(tmp_path / "f"), "--one-time-prekeys", "0")
    run("bundle", "export", "--dir", str(tmp_path / "f"), "--out", str(tmp_path / "f.json"))
    document = json.loads((tmp_path / "f.json").read_text())
    document["signed_prekey"]["expires"] += 1
    (tmp_path / "bad.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert run("bundle", "verify", str(tmp_path / "bad.json")) == 10
    assert "signature" in capsys.readouterr().err
    document["version"] = 7
    (tmp_path / "bad.json").write_text(json.dumps(document))
    assert run("fingerprint", str(tmp_path / "bad.json")) == 11
    assert run("bundle", "verify", str(tmp_path / "missing.json")) == 1


def test_bad_name_and_missing_store(tmp_path: Path) -> None:
    assert run("keygen", "bad name", "--dir", str(tmp_path / "x")) == 9
    assert run("prekeys", "rotate", "--dir", str(tmp_path / "nothing")) == 9


def test_interactive_passphrase_must_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEALPACK_PASSPHRASE")
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run("keygen", "gina", "--dir", str(tmp_path / "g"), "--one-time-prekeys", "0") == 9
    assert not (tmp_path / "g" / "identity.key").exists()


def test_open_store_and_read_bundle_file_are_public(tmp_path: Path) -> None:
    from sealpack import errors
    from sealpack.cli import keys as keys_cli
    from sealpack.keys.bundle_json import MAX_BUNDLE_JSON

    store_dir = tmp_path / "carol"
    assert run("keygen", "carol", "--dir", str(store_dir)) == 0
    with keys_cli.open_store(store_dir) as store:
        exported = store.identity.bundle()
    with pytest.raises(errors.KeyStoreError):
        keys_cli.open_store(tmp_path / "nowhere")
    bundle_file = tmp_path / "carol.json"
    bundle_file.write_text(exported.to_json())
    assert keys_cli.read_bundle_file(str(bundle_file)) == exported
    bundle_file.write_bytes(b" " * (MAX_BUNDLE_JSON + 1))
    with pytest.raises(errors.BundleError):
        keys_cli.read_bundle_file(str(bundle_file))


def test_cli_never_uses_a_swapped_in_unencrypted_store_of_a_passphrase_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keys.md 6.4 refuses an "encryption": "none" key file opened with a passphrase, but
    open_store decided from the (attacker-controlled) key file whether to use the
    passphrase at all: with $SEALPACK_PASSPHRASE set, a folder writer's swapped-in
    unencrypted store was opened with passphrase=None and ``bundle export`` published
    his identity under the user's name. A configured passphrase is now always given."""
    store_dir = tmp_path / "bob"
    assert run("keygen", "bob", "--dir", str(store_dir), "--one-time-prekeys", "0") == 0
    swap_in_unencrypted_key_file(store_dir, tmp_path / "mallory-built")
    shutil.copy(tmp_path / "mallory-built" / STATE_FILE, store_dir / STATE_FILE)
    capsys.readouterr()
    out = tmp_path / "bundle.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = run("bundle", "export", "--dir", str(store_dir), "--out", str(out))
        assert run("prekeys", "rotate", "--dir", str(store_dir)) == code
    assert code != 0 and not out.exists(), "exported the swapped-in identity as bob's bundle"
    assert "UNENCRYPTED" in capsys.readouterr().err


def test_an_unencrypted_store_opens_without_a_configured_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without $SEALPACK_PASSPHRASE an unencrypted store opens with no prompt (as before)."""
    monkeypatch.delenv("SEALPACK_PASSPHRASE")
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("prompted"))
    store_dir = tmp_path / "eve"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = ("--dir", str(store_dir), "--one-time-prekeys", "0", "--unencrypted")
        assert run("keygen", "eve", *args) == 0
        assert run("bundle", "export", "--dir", str(store_dir), "--out", str(tmp_path / "e")) == 0
    assert KeyBundle.from_json((tmp_path / "e").read_text()).name == "eve"
