"""The harness itself: it must catch what the campaigns rely on it to catch."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from sealpack import errors
from tests.adversarial.harness import reject, tolerate


def test_a_returned_value_fails() -> None:
    with pytest.raises(pytest.fail.Exception):
        reject(lambda: 42)


def test_a_foreign_exception_escapes() -> None:
    with pytest.raises(KeyError):
        reject(lambda: {}["missing"])


def test_an_import_is_caught() -> None:
    sys.modules.pop("tabnanny", None)
    with pytest.raises(AssertionError, match="imports"):
        tolerate(lambda: importlib.import_module("tabnanny"))


def test_a_write_is_caught(tmp_path: Path) -> None:
    def write() -> None:
        (tmp_path / "x").write_bytes(b"1")
        raise errors.DecodeError("after writing")

    with pytest.raises(AssertionError, match="audited"):
        reject(write)


def test_os_system_is_caught() -> None:
    with pytest.raises(AssertionError, match="audited"):
        tolerate(lambda: os.system("true"))


def test_tampered_error_must_keep_its_fixed_message() -> None:
    error = errors.TamperedError()
    error.args = ("chunk 3 failed",)

    def leak() -> None:
        raise error

    with pytest.raises(AssertionError):
        reject(leak)
