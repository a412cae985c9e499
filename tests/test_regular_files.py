"""sealpack.regular_files: small files read from folders others can write to."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from sealpack.regular_files import (
    NotRegularFileError,
    read_bounded,
    read_named_file,
    read_regular_file,
)
from tests.fifo import call_or_hang


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_bytes(b"x" * 100)
    assert read_regular_file(tmp_path / "b.json", limit=100) == b"x" * 100


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "b.json"
    os.mkfifo(fifo)
    hung, outcome = call_or_hang(lambda: read_regular_file(fifo, limit=100), fifo)
    assert not hung
    assert isinstance(outcome[0], NotRegularFileError)
    assert outcome[0].errno is None  # callers tell it from an I/O error this way


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_a_folder_or_a_device_is_refused(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "d"
    if kind == "folder":
        target.mkdir()
    else:
        target.symlink_to("/dev/zero")  # read without a bound, it never ends
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        read_regular_file(target, limit=100)


def test_a_large_file_is_refused_after_limit_plus_one_bytes(tmp_path: Path) -> None:
    target = tmp_path / "huge.json"
    with target.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse
    with pytest.raises(NotRegularFileError, match="larger than 4096 bytes"):
        read_regular_file(target, limit=4096)
    fd = os.open(target, os.O_RDONLY)
    try:
        assert len(read_bounded(fd, 4096)) == 4097
    finally:
        os.close(fd)


def test_symlinks_followed_unless_refused(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_bytes(b"{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")  # a ConfigMap mount
    assert read_regular_file(tmp_path / "link.json", limit=10) == b"{}"
    with pytest.raises(OSError) as caught:
        read_regular_file(tmp_path / "link.json", limit=10, follow_symlinks=False)
    assert caught.value.errno == errno.ELOOP


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "none.json", limit=10)


def test_a_named_file_may_be_a_pipe_but_stays_bounded(tmp_path: Path) -> None:
    reader, writer = os.pipe()
    os.write(writer, b"x" * 50)
    os.close(writer)
    try:
        assert read_named_file(f"/dev/fd/{reader}", limit=50) == b"x" * 50
    finally:
        os.close(reader)
    (tmp_path / "big").write_bytes(b"y" * 51)
    with pytest.raises(NotRegularFileError, match="larger than 50 bytes"):
        read_named_file(tmp_path / "big", limit=50)
