"""seal / unseal / inspect never harm the user's files, terminal or messages.

Review findings fixed here: escape injection through ``inspect``, a message consumed
before ``unseal IN -`` delivered it, plaintext left in $TMPDIR after SIGTERM, and a
forgotten OUT that overwrote the user's data file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sealpack
from sealpack.cli import main as cli_main
from sealpack.keys import Identity
from tests.envelope.test_cli_envelope import _store  # one unencrypted store + bundle

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _with_envelope_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tuple(dict.fromkeys((*cli_main.COMMAND_MODULES, "keys", "envelope")))
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", modules)


def _sealed(tmp_path: Path, content: bytes) -> tuple[Path, list[str]]:
    """Alice seals ``content`` for Bob; returns the blob and Bob's unseal argv prefix."""
    alice_dir, alice_bundle = _store(tmp_path, "alice")
    bob_dir, bob_bundle = _store(tmp_path, "bob")
    frame, sealed = tmp_path / "in.frame", tmp_path / "m.sealed"
    frame.write_bytes(content)
    seal = ["seal", "--to", str(bob_bundle), "--from", str(alice_dir), str(frame), str(sealed)]
    assert cli_main.main(seal) == 0
    unseal = ["unseal", "--keystore", str(bob_dir), "--sender", str(alice_bundle), str(sealed)]
    return sealed, unseal


def test_inspect_escapes_a_hostile_content_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: terminal escape injection through ``sealpack inspect`` of an untrusted blob
    (retitle, clear screen, a forged ``verified: True`` line). Every value is escaped."""
    mallory = Identity.generate("mallory", one_time_prekeys=1)
    bob = Identity.generate("bob", one_time_prekeys=1)
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[Hverified:        True\r\n"
    blob = sealpack.seal(
        b"x",
        sender=mallory,
        recipients=[bob.bundle()],
        content_type=hostile,
        metadata={"note": "\x1b[31m\u202e"},
        allow_classical=True,
    )
    path = tmp_path / "hostile.sealed"
    path.write_bytes(blob)
    for extra in ([], ["--json"]):
        assert cli_main.main(["inspect", *extra, str(path)]) == 0
        out = capsys.readouterr().out
        assert not any(c in out for c in "\x1b\x07\r\u202e")
        assert "owned" in out  # shown, escaped, not dropped


class _BrokenStdout:
    """A stdout whose reader went away (``sealpack unseal blob - | consumer`` crashed)."""

    class _Buffer:
        def write(self, data: bytes) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    buffer = _Buffer()

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_unseal_to_a_failing_stdout_does_not_consume_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure: ``unseal IN -`` used to commit the message (replay row, one-time prekey)
    before the copy to stdout; a broken pipe then lost it. Now it is opened held and
    acknowledged only after the flush, so a retry opens it, and then it is consumed."""
    content = sealpack.fobs.dumps({"w": list(range(100))})
    _, unseal = _sealed(tmp_path, content)
    with monkeypatch.context() as patch:
        patch.setattr("sys.stdout", _BrokenStdout())
        assert cli_main.main([*unseal, "-"]) == cli_main.EXIT_ERROR
    out = tmp_path / "retry.frame"
    assert cli_main.main([*unseal, str(out)]) == 0
    assert out.read_bytes() == content
    assert cli_main.main([*unseal, str(tmp_path / "again.frame")]) == 7  # ReplayError


def test_unseal_to_stdout_acknowledges_after_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A successful ``unseal IN -`` writes the frame and consumes the message."""
    content = sealpack.fobs.dumps([1, 2, 3])
    _, unseal = _sealed(tmp_path, content)
    assert cli_main.main([*unseal, "-"]) == 0
    assert capfdbinary.readouterr().out == content
    assert cli_main.main([*unseal, "-"]) == 7


def test_unseal_to_stdout_killed_by_sigterm_leaves_no_plaintext(tmp_path: Path) -> None:
    """Attack: SIGTERM while ``unseal IN -`` copies to a full pipe used to end the process
    without cleanup, leaving the plaintext in $TMPDIR/sealpack-*/frame (and the message
    consumed). Now SIGTERM raises, the temp file is already unlinked, exit 143."""
    content = os.urandom(4 << 20)
    _, unseal = _sealed(tmp_path, content)
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SEALPACK_PASSPHRASE"}
    env["TMPDIR"] = str(temp)
    code = "import sys; from sealpack.cli.main import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", code, *unseal, "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.read(1)  # the copy started; the pipe is now full
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    assert [p for p in temp.rglob("*")] == []
    assert returncode == 143  # 128 + SIGTERM, after the cleanup ran
    out = tmp_path / "retry.frame"
    assert cli_main.main([*unseal, str(out)]) == 0  # not acknowledged: still there
    assert out.read_bytes() == content


def test_seal_with_a_forgotten_out_never_overwrites_the_input(tmp_path: Path) -> None:
    """Failure: ``seal --to bob.json carol.json model.frame`` (OUT forgotten) parses as
    IN=carol.json, OUT=model.frame; it used to replace the user's data with a blob.
    An existing OUT that is not a sealed blob is refused (exit 2) unless --force."""
    alice_dir, _ = _store(tmp_path, "alice")
    _, bob_bundle = _store(tmp_path, "bob")
    _, carol_bundle = _store(tmp_path, "carol")
    frame = tmp_path / "model.frame"
    original = sealpack.fobs.dumps({"w": list(range(100))})
    frame.write_bytes(original)
    seal = ["seal", "--from", str(alice_dir), "--allow-classical", "--to", str(bob_bundle)]
    assert cli_main.main([*seal, str(carol_bundle), str(frame)]) == 2
    assert frame.read_bytes() == original
    blob = tmp_path / "model.sealed"
    assert cli_main.main([*seal, str(frame), str(blob)]) == 0
    assert cli_main.main([*seal, str(frame), str(blob)]) == 0  # a sealed blob: replaced
    assert cli_main.main([*seal, "--force", str(carol_bundle), str(frame)]) == 0
    assert frame.read_bytes() != original


def test_unseal_to_a_file_whose_rename_fails_does_not_consume_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message was recorded as consumed just before the temp file was renamed into
    place; a failing rename (full or read-only folder) lost it. It is now opened held and
    acknowledged only once OUT is in place, so the retry opens it."""
    _, unseal = _sealed(tmp_path, b"kept until written")
    out = tmp_path / "out.frame"
    real = os.replace

    def failing(source: str, target: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("sealpack.envelope.files.os.replace", failing)
    assert cli_main.main([*unseal, str(out)]) != 0
    assert not out.exists()
    monkeypatch.setattr("sealpack.envelope.files.os.replace", real)
    assert cli_main.main([*unseal, str(out)]) == 0
    assert out.read_bytes() == b"kept until written"
    assert cli_main.main([*unseal, str(tmp_path / "again.frame")]) != 0  # consumed now
