"""The examples users are pointed at run as one command."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_datasite_example_runs_and_refuses_the_replay() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "datasite_exchange.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "from alice" in result.stdout
    assert "quarantine: ['replayed']" in result.stdout
