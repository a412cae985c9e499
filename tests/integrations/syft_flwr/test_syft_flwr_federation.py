"""syft-flwr's own local simulation (1 aggregator, 2 datasites, 2 rounds), sealed by sealpack.

Runs in a Python 3.12 environment built by the documented recipe (syft_env.py); skipped
when no Python 3.12/3.13 is found. Three federations run side by side: plain syft-flwr
(syft-crypto off), sealed, and sealed with an attacker on the transport (tapped_server).
Every version of every file written under the datasites is scanned for model bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integrations.syft_flwr.syft_env import REPO, ensure_env, find_python312

DRIVER = Path(__file__).with_name("driver.py")
ALICE, BOB = "alice@hospital-a.example", "bob@hospital-b.example"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    python = find_python312()
    if python is None:
        pytest.skip("syft-flwr 0.5.3 needs Python 3.12 or 3.13; none found (SEALPACK_PYTHON312)")
    env_python = ensure_env(python)
    base = tmp_path_factory.mktemp("syft")
    env = {**os.environ, "SYFT_FLWR_POLL_INTERVAL": "0.5", "SEALED_FL_ROUND_TIMEOUT": "120"}
    env.pop("SEALPACK_PASSPHRASE", None)
    procs = {
        mode: subprocess.Popen(
            [str(env_python), str(DRIVER), mode, str(base / mode)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for mode in ("plain", "sealed", "attacked")
    }
    facts = {}
    for mode, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        lines = [line for line in out.splitlines() if line.startswith("SEALPACK-FACTS ")]
        assert proc.returncode == 0 and lines, f"{mode} run failed:\n{out[-3000:]}"
        facts[mode] = json.loads(lines[-1].split(" ", 1)[1])
    return facts


def _final(facts: dict[str, Any]) -> np.ndarray:
    assert facts["ok"] and facts["final"], "the federation did not finish"
    return np.load(facts["final"])


def test_sealed_final_model_equals_plain_run(runs: dict[str, dict[str, Any]]) -> None:
    plain, sealed = _final(runs["plain"]), _final(runs["sealed"])
    assert plain.tobytes() == sealed.tobytes()
    assert runs["sealed"]["trained"] == {ALICE: ["round", "round"], BOB: ["round", "round"]}


def test_no_datasite_file_holds_model_bytes(runs: dict[str, dict[str, Any]]) -> None:
    assert runs["plain"]["model_hits"], "the scan must see the model in a plain run"
    for mode in ("sealed", "attacked"):
        assert runs[mode]["file_versions_scanned"] > 20
        assert runs[mode]["model_hits"] == [], mode


def test_attacks_refused_and_rounds_complete_with_honest_datasites(
    runs: dict[str, dict[str, Any]],
) -> None:
    facts = runs["attacked"]
    tap = facts["tap"]
    assert (tap["injected"], tap["flipped"], tap["replayed"]) == (1, 1, 1)
    # the injected plaintext instruction: refused by the datasite, never trained on
    assert tap["injected_reply"]["error"] is True
    assert "RefusedMessageError" in tap["injected_reply"]["reason"]
    assert "INJECTED" not in facts["trained"][ALICE]
    # round 1: bob's flipped reply refused; round 2: alice's replayed reply refused
    assert sorted(map(tuple, tap["refused"])) == sorted(
        [(zlib.crc32(BOB.encode()), "TamperedError"), (zlib.crc32(ALICE.encode()), "ReplayError")]
    )
    # each round aggregated the honest reply only: x1.25 (alice), then x0.5 (bob);
    # with both replies each round it would be x0.875 twice (the plain run)
    w0 = _initial_model()
    expected = (w0 * np.float32(1.25)) * np.float32(0.5)
    np.testing.assert_allclose(_final(facts), expected, rtol=0, atol=1e-5)
    assert not np.allclose(_final(facts), _final(runs["plain"]), rtol=0, atol=1e-3)


def _initial_model() -> np.ndarray:
    return np.random.default_rng(2026).standard_normal(4096).astype(np.float32)
