"""The error hierarchy: everything is a SealpackError, tampering carries no detail."""

from __future__ import annotations

import inspect

import pytest

from sealpack import errors
from sealpack.cli.main import EXIT_ERROR, exit_code_for


def all_error_classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]


@pytest.mark.parametrize("error_class", all_error_classes())
def test_every_error_is_a_sealpack_error(error_class: type[BaseException]) -> None:
    assert issubclass(error_class, errors.SealpackError)


def test_every_exported_name_exists() -> None:
    exported = set(errors.__all__)
    defined = {cls.__name__ for cls in all_error_classes()}
    assert exported == defined


def test_tampered_error_ignores_any_detail() -> None:
    first = errors.TamperedError("chunk 2 tag mismatch")
    second = errors.TamperedError()
    assert str(first) == str(second) == errors.TamperedError.MESSAGE


def test_serialization_type_error_is_also_a_type_error() -> None:
    with pytest.raises(TypeError):
        raise errors.SerializationTypeError("can not serialize 'X' object")


def test_exit_codes_are_distinct_for_distinct_failures() -> None:
    tampered = exit_code_for(errors.TamperedError())
    expired = exit_code_for(errors.ExpiredError("expired"))
    replay = exit_code_for(errors.ReplayError("seen"))
    wrong_pass = exit_code_for(errors.WrongPassphraseError("bad"))
    assert len({tampered, expired, replay, wrong_pass, EXIT_ERROR}) == 5
    assert exit_code_for(errors.KeyStoreError("x")) != wrong_pass
    assert exit_code_for(RuntimeError("x")) == EXIT_ERROR
