"""The README's Python examples and command lines run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sealpack import fobs
from sealpack.cli.main import main
from tests.conftest import REPO_ROOT


def python_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_examples_run_in_order() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert "opened" in namespace and "blob" in namespace


def shell_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def test_readme_command_lines_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SEALPACK_KEYSTORE", raising=False)
    with open("model.fobs", "wb") as stream:
        fobs.dump({"weights": list(range(10))}, stream)
    commands = [block for block in shell_blocks() if "sealpack " in block]
    assert len(commands) >= 2
    ran = 0
    for block in commands:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                monkeypatch.setenv(name, value)
                continue
            assert words[0] == "sealpack", line
            assert main(words[1:]) == 0, line
            ran += 1
    assert ran >= 12
    with open("model.opened.fobs", "rb") as stream:
        assert fobs.load(stream) == {"weights": list(range(10))}
    received = list((tmp_path / "received").rglob("*"))
    assert any(path.is_file() for path in received)
