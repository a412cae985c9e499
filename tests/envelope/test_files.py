"""Opening from files: bounded memory, two passes, atomic output, no partial plaintext."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from sealpack import errors, x3dh
from sealpack.envelope import files, opener, sealer, stream, suite
from sealpack.envelope import header as hdr
from sealpack.keys import Identity
from tests.envelope.conftest import NOW, SMALL_CHUNK, resolver, small_options

PLAIN = bytes(range(256)) * 20


def _seal(sender: Identity, *recipients: Identity) -> bytes:
    return bytes(
        sealer.seal_buffers(
            [PLAIN],
            sender=sender,
            recipients=[r.bundle() for r in recipients],
            options=small_options(),
            now=NOW,
        )
    )


def _kwargs(sender: Identity, recipient: Identity, **extra: Any) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "resolve_sender": resolver(sender.bundle()),
        "options": opener.OpenOptions(now=NOW, **extra),
    }


def _open_to_path(
    blob: bytes, target: Path, sender: Identity, recipient: Identity
) -> opener.UnsealedInfo:
    """``recipient`` opens ``blob`` from an in-memory file into ``target``."""
    return files.open_file_to_path(io.BytesIO(blob), target, **_kwargs(sender, recipient))


def test_open_file_round_trip(alice: Identity, carol: Identity) -> None:
    blob = _seal(alice, carol)
    progress: list[int] = []
    kwargs = _kwargs(alice, carol, progress=lambda done, total: progress.append(done))
    plaintext, info = files.open_file(io.BytesIO(blob), **kwargs)
    assert plaintext == PLAIN and isinstance(plaintext, bytearray)
    assert info.size == len(PLAIN)
    assert progress[-1] == len(PLAIN)


def test_open_to_path_is_atomic_and_private(
    tmp_path: Path, alice: Identity, carol: Identity
) -> None:
    blob = _seal(alice, carol)
    target = tmp_path / "out.frame"
    _open_to_path(blob, target, alice, carol)
    assert target.read_bytes() == PLAIN
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.frame"]


@pytest.mark.parametrize("position", [-1, -70, -200])
def test_failure_leaves_nothing_behind(
    tmp_path: Path, alice: Identity, carol: Identity, position: int
) -> None:
    blob = bytearray(_seal(alice, carol))
    blob[position] ^= 1
    target = tmp_path / "out.frame"
    with pytest.raises(errors.TamperedError):
        _open_to_path(bytes(blob), target, alice, carol)
    assert os.listdir(tmp_path) == []


def test_replay_leaves_existing_output_untouched(
    tmp_path: Path, alice: Identity, carol: Identity
) -> None:
    blob = _seal(alice, carol)
    target = tmp_path / "out.frame"
    _open_to_path(blob, target, alice, carol)
    target.write_bytes(b"previous")
    with pytest.raises(errors.ReplayError):
        _open_to_path(blob, target, alice, carol)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.frame"]


def test_replay_of_opk_file_is_a_replay_before_x3dh(
    tmp_path: Path, alice: Identity, bob: Identity
) -> None:
    blob = _seal(alice, bob)
    target = tmp_path / "out.frame"
    _open_to_path(blob, target, alice, bob)
    with mock.patch.object(x3dh, "respond", side_effect=AssertionError("X3DH ran")):
        with pytest.raises(errors.ReplayError):
            files.open_file(io.BytesIO(blob), **_kwargs(alice, bob))
        with pytest.raises(errors.ReplayError):
            _open_to_path(blob, target, alice, bob)


def _forge(blob: bytes, insider: Identity) -> bytes:
    """What an insider recipient can do: re-encrypt other content under the content key."""
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    key = opener.content_key_for(header, insider, NOW)
    start = len(header.header_bytes)
    payload = stream.encrypt(
        key,
        PLAIN[::-1],
        context=suite.payload_context(header.core_bytes),
        chunk_size=SMALL_CHUNK,
        rng=lambda n: blob[start : start + n],
    )
    return blob[:start] + payload + blob[-64:]


class _SwappingFile(io.BytesIO):
    """Serves the genuine blob on the first pass and a forgery after the first seek of a
    second pass (probing the length, then seeking back, reads nothing: not a pass)."""

    def __init__(self, genuine: bytes, forged: bytes) -> None:
        super().__init__(genuine)
        self._forged = forged
        self._probing = False

    def seek(self, offset: int, whence: int = 0) -> int:
        probe, self._probing = self._probing, whence == io.SEEK_END
        if self._forged and not probe and whence != io.SEEK_END:
            forged, self._forged = self._forged, b""
            self.__init__(forged, b"")  # type: ignore[misc]
        return super().seek(offset, whence)


def test_file_rewritten_after_the_first_read_cannot_slip_in(
    alice: Identity, bob: Identity, carol: Identity
) -> None:
    """open_file reads the file once (issue 18): what it verified is what it decrypts."""
    blob = _seal(alice, bob, carol)
    forged = _forge(blob, bob)
    plaintext, _ = files.open_file(_SwappingFile(blob, forged), **_kwargs(alice, carol))
    assert plaintext == PLAIN  # the signed content; the forgery was never read


def test_file_rewritten_between_passes_is_refused_when_streaming_to_a_path(
    alice: Identity, bob: Identity, carol: Identity, tmp_path: Path
) -> None:
    blob = _seal(alice, bob, carol)
    forged = _forge(blob, bob)
    target = tmp_path / "out.frame"
    with pytest.raises(errors.TamperedError):
        files.open_file_to_path(_SwappingFile(blob, forged), target, **_kwargs(alice, carol))
    assert not target.exists()


def test_read_header_only(alice: Identity, carol: Identity) -> None:
    blob = _seal(alice, carol)
    source = io.BytesIO(blob)
    header = files.read_header(source, hdr.EnvelopeLimits())
    assert source.tell() == len(header.header_bytes)
    for cut in (0, 5, 13, len(header.header_bytes) - 1):
        with pytest.raises(errors.TamperedError):
            files.read_header(io.BytesIO(blob[:cut]), hdr.EnvelopeLimits())


def test_truncated_and_extended_files(alice: Identity, carol: Identity) -> None:
    blob = _seal(alice, carol)
    for broken in (blob[:-1], blob + b"x", blob[: len(blob) // 2]):
        with pytest.raises(errors.TamperedError):
            files.open_file(io.BytesIO(broken), **_kwargs(alice, carol))


def test_unseekable_source_is_refused(alice: Identity, carol: Identity) -> None:
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(errors.SealpackError):
        files.open_file(Pipe(_seal(alice, carol)), **_kwargs(alice, carol))
