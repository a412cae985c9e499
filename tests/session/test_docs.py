"""The Python example of docs/spec/session.md runs as written."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT


def test_session_spec_example_runs() -> None:
    text = (REPO_ROOT / "docs" / "spec" / "session.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "session.md", "exec"), namespace)  # our own docs
    assert "opened" in namespace
