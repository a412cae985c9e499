"""The seal / unseal / inspect commands, through sealpack.cli.main."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from sealpack.cli import main as cli_main
from sealpack.keys import Identity, KeyStore
from sealpack.serialization import default_codec

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _with_envelope_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tuple(dict.fromkeys((*cli_main.COMMAND_MODULES, "keys", "envelope")))
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", modules)


def _store(tmp_path: Path, name: str, opks: int = 2) -> tuple[Path, Path]:
    directory = tmp_path / f"{name}-store"
    identity = Identity.generate(name, one_time_prekeys=opks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        KeyStore.create(directory, identity, passphrase=None, unencrypted=True).close()
    bundle = tmp_path / f"{name}.bundle.json"
    bundle.write_text(identity.bundle().to_json())
    return directory, bundle


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    alice_dir, alice_bundle = _store(tmp_path, "alice")
    bob_dir, bob_bundle = _store(tmp_path, "bob")
    mallory_dir, _ = _store(tmp_path, "mallory")
    frame = tmp_path / "model.frame"
    frame.write_bytes(default_codec().dumps({"w": np.arange(5000, dtype=np.float32)}))
    return {
        "alice": alice_dir,
        "alice_bundle": alice_bundle,
        "bob": bob_dir,
        "bob_bundle": bob_bundle,
        "mallory": mallory_dir,
        "frame": frame,
        "tmp": tmp_path,
    }


def _seal(paths: dict[str, Path], out: Path, metadata: str = '{"round": 4}') -> int:
    """Alice seals the frame for Bob with ``metadata``."""
    return cli_main.main(
        [
            "seal",
            "--to",
            str(paths["bob_bundle"]),
            "--from",
            str(paths["alice"]),
            "--metadata",
            metadata,
            str(paths["frame"]),
            str(out),
        ]
    )


def _unseal(paths: dict[str, Path], source: Path | str, out: Path | str, who: str = "bob") -> int:
    """``who`` opens ``source`` into ``out``, accepting Alice's bundle as the sender."""
    return cli_main.main(
        [
            "unseal",
            "--keystore",
            str(paths[who]),
            "--sender",
            str(paths["alice_bundle"]),
            str(source),
            str(out),
        ]
    )


def test_seal_inspect_unseal(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sealed = setup["tmp"] / "model.sealed"
    assert _seal(setup, sealed) == 0
    assert cli_main.main(["inspect", "--json", str(sealed)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["verified"] is False
    assert shown["metadata"] == {"round": 4}
    assert len(shown["recipients"]) == 1
    out = setup["tmp"] / "opened.frame"
    code = _unseal(setup, sealed, out)
    assert code == 0
    assert out.read_bytes() == setup["frame"].read_bytes()
    decoded = default_codec().loads(out.read_bytes())
    assert np.array_equal(decoded["w"], np.arange(5000, dtype=np.float32))


def test_unseal_errors_have_distinct_exit_codes(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = setup["tmp"] / "model.sealed"
    _seal(setup, sealed)
    out = setup["tmp"] / "opened.frame"
    # bob's trust store has never seen alice: unknown sender
    assert cli_main.main(["unseal", "--keystore", str(setup["bob"]), str(sealed), str(out)]) == 5
    # mallory is not a recipient
    code = _unseal(setup, sealed, out, who="mallory")
    assert code == 4
    blob = bytearray(sealed.read_bytes())
    blob[-100] ^= 1
    sealed.write_bytes(bytes(blob))
    code = _unseal(setup, sealed, out)
    assert code == 3
    err = capsys.readouterr().err
    assert "sealed blob failed authentication" in err
    assert not out.exists()
    for line in err.strip().splitlines():
        assert line.startswith("sealpack: error: ")


def test_replayed_blob_and_bad_metadata(setup: dict[str, Path]) -> None:
    sealed = setup["tmp"] / "model.sealed"
    _seal(setup, sealed)
    out = setup["tmp"] / "opened.frame"
    assert _unseal(setup, sealed, out) == 0
    assert _unseal(setup, sealed, out) == 7  # ReplayError, also when a one-time prekey was used
    code = _seal(setup, sealed, metadata="[1]")
    assert code == cli_main.EXIT_USAGE  # a bad argument, like an argparse error


def test_inspect_garbage(setup: dict[str, Path]) -> None:
    junk = setup["tmp"] / "junk"
    junk.write_bytes(b"not a sealed blob at all")
    assert cli_main.main(["inspect", str(junk)]) == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_only(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealpack.cli import envelope as envelope_cli

    monkeypatch.setattr(envelope_cli, "PROGRESS_THRESHOLD", 0)
    sealed = setup["tmp"] / "model.sealed"
    assert _seal(setup, sealed) == 0
    assert "%" not in capsys.readouterr().err  # a log or pipe gets no bar
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    out = setup["tmp"] / "opened.frame"
    assert _unseal(setup, sealed, out) == 0
    assert "unsealing" in screen.getvalue() and "100%" in screen.getvalue()
    second = setup["tmp"] / "second.sealed"
    assert _seal(setup, second) == 0
    screen.seek(0)
    screen.truncate()
    quiet_out = setup["tmp"] / "opened-quietly.frame"
    args = [
        "--quiet",
        "unseal",
        "--keystore",
        str(setup["bob"]),
        "--sender",
        str(setup["alice_bundle"]),
        str(second),
        str(quiet_out),
    ]
    assert cli_main.main(args) == 0
    assert quiet_out.exists()
    assert screen.getvalue() == ""


def test_stdin_and_stdout(
    setup: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    import io
    import sys

    frame = setup["frame"].read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(frame)))
    code = cli_main.main(
        ["seal", "--to", str(setup["bob_bundle"]), "--from", str(setup["alice"]), "-", "-"]
    )
    assert code == 0
    blob = capsysbinary.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(blob)))
    code = _unseal(setup, "-", "-")
    assert code == 0
    assert capsysbinary.readouterr().out == frame


def _seal_in_a_new_process(paths: dict[str, Path], out: Path, *extra: str) -> None:
    """``sealpack seal`` as its own process (the one-time prekey record must be on disk)."""
    import subprocess
    import sys

    command = [sys.executable, "-W", "ignore", "-m", "sealpack.cli.main", "seal", *extra]
    command += ["--to", str(paths["bob_bundle"]), "--from", str(paths["alice"])]
    subprocess.run([*command, str(paths["frame"]), str(out)], check=True)


def _opk_of(sealed: Path) -> int | None:
    from sealpack import api

    return api.inspect(sealed).recipients[0].one_time_prekey_id


def test_two_seal_runs_use_different_one_time_prekeys(setup: dict[str, Path]) -> None:
    first, second = setup["tmp"] / "first.sealed", setup["tmp"] / "second.sealed"
    _seal_in_a_new_process(setup, first)
    _seal_in_a_new_process(setup, second)
    assert (_opk_of(first), _opk_of(second)) == (1, 2)
    for sealed in (first, second):
        out = setup["tmp"] / f"{sealed.name}.frame"
        assert _unseal(setup, sealed, out) == 0
        assert out.read_bytes() == setup["frame"].read_bytes()


def test_seal_no_one_time_prekey(setup: dict[str, Path]) -> None:
    sealed = setup["tmp"] / "spk-only.sealed"
    _seal_in_a_new_process(setup, sealed, "--no-one-time-prekey")
    assert _opk_of(sealed) is None
    assert _unseal(setup, sealed, setup["tmp"] / "opened.frame") == 0


def test_unseal_has_no_from_alias(
    setup: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = setup["tmp"] / "model.sealed"
    assert _seal(setup, sealed) == 0  # --from stays on seal (the sender's key store)
    out = setup["tmp"] / "opened.frame"
    argv = ["unseal", "--from", str(setup["bob"]), "--sender", str(setup["alice_bundle"])]
    with pytest.raises(SystemExit) as exited:
        cli_main.main([*argv, str(sealed), str(out)])
    assert exited.value.code == 2
    assert "unrecognized arguments: --from" in capsys.readouterr().err
    assert not out.exists()
