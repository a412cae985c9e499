"""Issue 17: a receiver killed (SIGKILL, real processes) before or after the commit never
loses a blob: it opens after restart, exactly once (a held one marked as a redelivery)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sealpack
from sealpack.keys import Identity, KeyStore

WORKER = Path(__file__).with_name("crash_worker.py")
REPO = Path(__file__).resolve().parents[2]
DATA = bytes(range(256)) * (12 * 1024)  # 3 MiB: three chunks, so progress runs mid-way

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


def _run(mode: str, store: Path, blob: Path, bundle: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(WORKER), mode, str(store), str(blob), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, (json.loads(lines[-1]) if lines else {})


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    alice = Identity.generate("alice", one_time_prekeys=0)
    bob = Identity.generate("bob", one_time_prekeys=2)
    store = tmp_path / "bob"
    KeyStore.create(store, bob, passphrase=b"crash test", scrypt_n=2**10).close()
    blob = tmp_path / "update.sealed"
    sealpack.seal_to({"data": DATA}, blob, sender=alice, recipients=[bob.bundle()])
    assert sealpack.inspect(blob).recipients[0].one_time_prekey_id == 1
    bundle = tmp_path / "alice.json"
    bundle.write_text(alice.bundle().to_json())
    return store, blob, bundle


EXPECTED = hashlib.sha256(DATA).hexdigest()


@pytest.mark.parametrize("then", ["open", "open-ack"])
def test_killed_while_opening_the_blob_opens_after_restart(
    setup: tuple[Path, Path, Path], then: str
) -> None:
    """Window 1: killed inside the progress callback, before the commit: nothing was
    recorded or consumed (not even the one-time prekey), so the blob opens normally."""
    rc, _ = _run("kill-while-opening", *setup)
    assert rc == -signal.SIGKILL
    rc, out = _run(then, *setup)
    assert (rc, out) == (0, {"redelivered": False, "sha256": EXPECTED})
    rc, out = _run("open", *setup)
    assert (rc, out) == (3, {"error": "ReplayError"})  # exactly once


def test_killed_after_the_commit_the_held_blob_is_redelivered(
    setup: tuple[Path, Path, Path],
) -> None:
    """Window 2: killed after the commit, before acknowledging: the held row hands the
    blob out again (marked), never quarantined as a replay of itself."""
    rc, _ = _run("kill-after-commit", *setup)
    assert rc == -signal.SIGKILL
    rc, out = _run("open-ack", *setup)
    assert (rc, out) == (0, {"redelivered": True, "sha256": EXPECTED})
    rc, out = _run("open-ack", *setup)
    assert (rc, out) == (3, {"error": "ReplayError"})  # acknowledged: exactly once
