"""examples/nvflare/run.py runs as one command (a sealed FedAvg job in NVFLARE's simulator)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nvflare")

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_example_runs_a_sealed_job(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "examples" / "nvflare" / "run.py"),
            "--workdir",
            str(tmp_path),
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "sealed_fedavg: 1 rounds, 2 clients" in result.stdout
    logs = (tmp_path / "ws" / "sealed_fedavg" / "server" / "log.txt").read_text()
    assert "sealpack guard" not in logs  # every task passed through sealpack's filters
    assert (tmp_path / "keys" / "bundles" / "site-2.json").exists()
