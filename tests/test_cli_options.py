"""Options every script and newcomer relies on: --version, --json output, progress display."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import sealpack
from sealpack.cli import main as cli_main
from sealpack.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli_main.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"sealpack {sealpack.__version__}"


@pytest.fixture
def sealed(tmp_path: Path) -> dict[str, Path]:
    alice = sealpack.Identity.generate("alice")
    bob = sealpack.Identity.generate("bob")
    blob = sealpack.seal(
        {"w": np.arange(10)}, sender=alice, recipients=[bob.bundle()], metadata={"round": 7}
    )
    paths = {"blob": tmp_path / "m.sealed", "bundle": tmp_path / "alice.json"}
    paths["blob"].write_bytes(bytes(blob))
    paths["bundle"].write_text(alice.bundle().to_json())
    return paths


def test_inspect_json_is_one_object_for_scripts(
    sealed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(["inspect", "--json", str(sealed["blob"])]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["metadata"] == {"round": 7}
    assert facts["verified"] is False


def test_inspect_without_json_is_text_for_people(
    sealed: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main.main(["inspect", str(sealed["blob"])]) == 0
    out = capsys.readouterr().out
    with pytest.raises(ValueError):
        json.loads(out)
    assert any(line.startswith("metadata:") and '"round": 7' in line for line in out.splitlines())


def test_fingerprint_json(sealed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["fingerprint", "--json", str(sealed["bundle"])]) == 0
    facts = json.loads(capsys.readouterr().out)
    bundle = sealpack.KeyBundle.from_json(sealed["bundle"].read_text())
    assert facts == {
        "name": "alice",
        "fingerprint": bundle.fingerprint(),
        "identity_key": bundle.identity_key.hex(),
    }


def test_progress_draws_rate_on_a_terminal() -> None:
    screen = _Terminal()
    with progress_bar("sealing", 4 << 20, stream=screen) as update:
        for done in range(0, (4 << 20) + 1, 1 << 20):
            update(done, 4 << 20)
    shown = screen.getvalue()
    assert "sealing" in shown and "100%" in shown
    assert "/s" in shown  # the rate


def test_progress_prints_nothing_into_a_pipe_or_log() -> None:
    log = io.StringIO()  # not a terminal
    with progress_bar("sealing", 1 << 20, stream=log) as update:
        update(1 << 20, 1 << 20)
    assert log.getvalue() == ""


def test_progress_quiet_prints_nothing_even_on_a_terminal() -> None:
    screen = _Terminal()
    with progress_bar("sealing", 1 << 20, stream=screen, quiet=True) as update:
        update(1 << 20, 1 << 20)
    assert screen.getvalue() == ""


def test_progress_adds_up_several_payloads() -> None:
    screen = _Terminal()
    with progress_bar("opening", 2048, stream=screen) as update:
        update(1024, 1024)
        update(512, 1024)
        update(1024, 1024)
    assert "2.00k/2.00k" in screen.getvalue()


def test_seal_to_a_classical_bundle_needs_allow_classical(tmp_path: Path) -> None:
    import warnings

    from sealpack.serialization import default_codec

    alice = sealpack.Identity.generate("alice")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sealpack.KeyStore.create(
            tmp_path / "alice", alice, passphrase=None, unencrypted=True
        ).close()
    carol = sealpack.Identity.generate("carol", post_quantum=False)
    bundle = tmp_path / "carol.json"
    bundle.write_text(carol.bundle().to_json())
    frame = tmp_path / "m.frame"
    frame.write_bytes(default_codec().dumps({"x": 1}))
    base = ["seal", "--keystore", str(tmp_path / "alice"), "--to", str(bundle)]
    refused = tmp_path / "refused.sealed"
    assert cli_main.main([*base, str(frame), str(refused)]) == 15
    assert not refused.exists()
    sealed = tmp_path / "ok.sealed"
    assert cli_main.main([*base, "--allow-classical", str(frame), str(sealed)]) == 0
    info = sealpack.inspect(str(sealed))
    assert sealpack.unseal(sealed.read_bytes(), recipient=carol, senders=[alice.bundle()]) == {
        "x": 1
    }
    assert info.recipients


def test_payload_bars_draw_one_bar_per_large_payload_only() -> None:
    from sealpack.progress import payload_bars

    screen = _Terminal()
    with payload_bars("opening", min_size=1000, stream=screen) as update:
        update(0, 500)  # too small: no bar
        update(500, 500)
        for done in (0, 1024, 2048):
            update(done, 2048)
        for done in (0, 4096):
            update(done, 4096)
    shown = screen.getvalue()
    assert shown.count("opening") >= 2
    assert "2.00k/2.00k" in shown and "4.00k/4.00k" in shown
    assert "500" not in shown


def test_payload_bars_print_nothing_into_a_log() -> None:
    from sealpack.progress import payload_bars

    log = io.StringIO()
    with payload_bars("opening", stream=log) as update:
        update(0, 4096)
        update(4096, 4096)
    assert log.getvalue() == ""
