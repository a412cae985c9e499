"""Every test SECURITY.md names as evidence for a claim exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT

TESTS = REPO_ROOT / "tests"


def resolve(file_name: str) -> Path:
    if "/" in file_name:
        return REPO_ROOT / file_name
    matches = sorted(TESTS.rglob(file_name))
    adversarial = [path for path in matches if path.parent.name == "adversarial"]
    assert matches, f"SECURITY.md names {file_name}, which does not exist"
    return (adversarial or matches)[0]


def named_tests() -> list[tuple[Path, str]]:
    text = (REPO_ROOT / "SECURITY.md").read_text()
    found: list[tuple[Path, str]] = []
    current: Path | None = None
    for token in re.findall(r"`([^`\s]*::[^`\s]*)`", text):
        file_part, _, test_name = token.partition("::")
        if file_part:
            current = resolve(file_part)
        assert current is not None, f"{token} has no file before it"
        found.append((current, test_name.split("[")[0]))
    return found


def test_security_md_names_tests_as_evidence() -> None:
    assert len(named_tests()) >= 30


def test_every_named_test_exists() -> None:
    missing = [
        f"{path.relative_to(REPO_ROOT)}::{name}"
        for path, name in named_tests()
        if not re.search(rf"^(async )?def {re.escape(name)}\(", path.read_text(), re.MULTILINE)
        and not re.search(rf"^    def {re.escape(name)}\(", path.read_text(), re.MULTILINE)
    ]
    assert missing == []
