"""The vector generators reproduce the committed known-answer files byte for byte."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import pytest

from tests.conftest import VECTORS_DIR


def load_generator(name: str) -> ModuleType:
    path = VECTORS_DIR / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sealpack_vectors_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_envelope_generator_reproduces_the_committed_file() -> None:
    generator = load_generator("gen_envelope")
    text = generator.render(generator.build())
    assert text == (VECTORS_DIR / "envelope.json").read_text()


def test_x3dh_generator_reproduces_the_committed_file() -> None:
    generator = load_generator("gen_x3dh")
    text = json.dumps(generator.build(), indent=2) + "\n"
    assert text == (VECTORS_DIR / "x3dh.json").read_text()


@pytest.mark.parametrize("name", ["envelope.json", "x3dh.json", "pqxdh.json"])
def test_vector_files_have_wycheproof_shape(name: str) -> None:
    document = json.loads((VECTORS_DIR / name).read_text())
    tests = [test for group in document["testGroups"] for test in group["tests"]]
    assert document["numberOfTests"] == len(tests) >= 8
    assert len({test["tcId"] for test in tests}) == len(tests)
    assert {test["result"] for test in tests} >= {"valid", "invalid"}
    assert all(test["comment"] for test in tests)
