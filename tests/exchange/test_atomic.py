"""Unit tests of the crash-safe file helpers (directory file descriptors, *at calls)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from sealpack import errors, regular_files
from sealpack.exchange import atomic, folders


@pytest.fixture
def dir_fd(tmp_path: Path) -> Iterator[int]:
    with folders.open_folder(tmp_path, []) as fd:
        yield fd


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path: Path, dir_fd: int) -> None:
    atomic.write_atomic(dir_fd, "f", b"one")
    atomic.write_atomic(dir_fd, "f", lambda out: out.write(b"two"), mode=0o600)
    assert (tmp_path / "f").read_bytes() == b"two"
    assert os.stat(tmp_path / "f").st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, dir_fd: int) -> None:
    atomic.write_atomic(dir_fd, "f", b"old")

    def broken(out: BinaryIO) -> None:
        out.write(b"new but partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_atomic(dir_fd, "f", broken)
    assert (tmp_path / "f").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_create_exclusive_never_clobbers(tmp_path: Path, dir_fd: int) -> None:
    assert atomic.create_exclusive(dir_fd, "f", b"first") is True
    assert atomic.create_exclusive(dir_fd, "f", b"second") is False
    assert (tmp_path / "f").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["f"]


def test_create_exclusive_does_not_write_through_a_symlink(tmp_path: Path, dir_fd: int) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.write_bytes(b"precious")
    (tmp_path / "f").symlink_to(outside)
    assert atomic.create_exclusive(dir_fd, "f", b"evil") is False
    assert outside.read_bytes() == b"precious"


def test_claim_by_rename_has_one_winner(tmp_path: Path, dir_fd: int) -> None:
    (tmp_path / "token").write_bytes(b"t")
    with folders.open_folder(tmp_path, ["claimed"], create=True) as claimed:
        assert atomic.claim_by_rename(dir_fd, "token", claimed, "a") is True
        assert atomic.claim_by_rename(dir_fd, "token", claimed, "b") is False
    assert os.listdir(tmp_path / "claimed") == ["a"]


def test_claim_by_rename_refuses_a_symlink(tmp_path: Path, dir_fd: int) -> None:
    (tmp_path / "token").symlink_to(tmp_path / "elsewhere")
    assert atomic.claim_by_rename(dir_fd, "token", dir_fd, "claimed") is False
    assert (tmp_path / "token").is_symlink()


def test_move_durably(tmp_path: Path) -> None:
    with (
        folders.open_folder(tmp_path, ["a"], create=True) as a,
        folders.open_folder(tmp_path, ["b"], create=True) as b,
    ):
        (tmp_path / "a" / "x").write_bytes(b"x")
        atomic.move_durably(a, "x", b, "x")
    assert (tmp_path / "b" / "x").read_bytes() == b"x"
    assert not (tmp_path / "a" / "x").exists()


def test_open_regular_refuses_a_symlink_with_unsafe_path_error(tmp_path: Path, dir_fd: int) -> None:
    (tmp_path / "real").write_bytes(b"secret")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        regular_files.read_regular(dir_fd, "link", limit=100)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        regular_files.read_regular(dir_fd, "fifo", limit=100)


def test_open_subfolder_refuses_a_symlinked_folder(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").symlink_to(tmp_path / "real")
    with pytest.raises(errors.UnsafePathError, match="symlink"):
        folders.open_tree(tmp_path, ["a", "b"])
    with pytest.raises(errors.UnsafePathError):
        folders.open_tree(tmp_path, ["a", "b"], create=True)


@pytest.mark.parametrize(
    ("name", "temporary"),
    [(".x.tmp", True), (".hidden", True), ("a.tmp", True), ("a.sealed", False)],
)
def test_is_temporary(name: str, temporary: bool) -> None:
    assert atomic.is_temporary(name) is temporary


def test_remove_stale_temporaries_only_touches_old_temporaries(tmp_path: Path, dir_fd: int) -> None:
    old = tmp_path / ".old.tmp"
    old.write_bytes(b"")
    os.utime(old, (100, 100))
    keep = tmp_path / "data.sealed"
    keep.write_bytes(b"")
    os.utime(keep, (100, 100))
    young = tmp_path / ".young.tmp"
    young.write_bytes(b"")
    assert atomic.remove_stale_temporaries(dir_fd, older_than=60) == 1
    assert sorted(os.listdir(tmp_path)) == [".young.tmp", "data.sealed"]
