"""Unit tests of the crash-safe file helpers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import pytest

from sealpack.exchange import atomic


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic.write_atomic(target, b"one")
    atomic.write_atomic(target, lambda out: out.write(b"two"), mode=0o600)
    assert target.read_bytes() == b"two"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic.write_atomic(target, b"old")

    def broken(out: BinaryIO) -> None:
        out.write(b"new but partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_atomic(target, broken)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_create_exclusive_never_clobbers(tmp_path: Path) -> None:
    target = tmp_path / "f"
    assert atomic.create_exclusive(target, b"first") is True
    assert atomic.create_exclusive(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["f"]


def test_claim_by_rename_has_one_winner(tmp_path: Path) -> None:
    source = tmp_path / "token"
    source.write_bytes(b"t")
    (tmp_path / "claimed").mkdir()
    assert atomic.claim_by_rename(source, tmp_path / "claimed" / "a") is True
    assert atomic.claim_by_rename(source, tmp_path / "claimed" / "b") is False
    assert os.listdir(tmp_path / "claimed") == ["a"]


def test_move_durably(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"x")
    atomic.move_durably(tmp_path / "a" / "x", tmp_path / "b" / "x")
    assert (tmp_path / "b" / "x").read_bytes() == b"x"
    assert not (tmp_path / "a" / "x").exists()


@pytest.mark.parametrize(
    ("name", "temporary"),
    [(".x.tmp", True), (".hidden", True), ("a.tmp", True), ("a.sealed", False)],
)
def test_is_temporary(name: str, temporary: bool) -> None:
    assert atomic.is_temporary(name) is temporary


def test_remove_stale_temporaries_only_touches_old_temporaries(tmp_path: Path) -> None:
    old = tmp_path / ".old.tmp"
    old.write_bytes(b"")
    os.utime(old, (100, 100))
    keep = tmp_path / "data.sealed"
    keep.write_bytes(b"")
    os.utime(keep, (100, 100))
    young = tmp_path / ".young.tmp"
    young.write_bytes(b"")
    assert atomic.remove_stale_temporaries(tmp_path, older_than=60) == 1
    assert sorted(os.listdir(tmp_path)) == [".young.tmp", "data.sealed"]
