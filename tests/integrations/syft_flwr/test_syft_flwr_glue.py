"""The syft-flwr glue without syft-flwr: keys per datasite, pinning, shims, atomic writes.

The grid adapter is tested in test_syft_flwr_adapter.py, hostile published bundles and
datasites that cannot be pinned in test_syft_flwr_hostile_bundles.py.
"""

from __future__ import annotations

import fnmatch
import os
import zlib
from pathlib import Path
from typing import Any

import pytest

import sealpack
from sealpack.errors import BundleError, IdentityChangedError
from sealpack.integrations.syft_flwr import compat, runner
from sealpack.integrations.syft_flwr.datasite_keys import (
    DatasiteKeys,
    node_id_for,
    open_or_create,
    pin_peer,
    publish,
)
from sealpack.integrations.syft_flwr.errors import SyftFlwrConfigError, UnpublishedBundleError

AGG, ALICE = "aggregator@example.org", "alice@example.org"
PASS = b"correct horse"


def _participant(datasites: Path, email: str) -> tuple[DatasiteKeys, sealpack.KeyStore]:
    keys = DatasiteKeys(email, datasites)
    store = open_or_create(keys, PASS)
    publish(keys, store)
    return keys, store


def test_node_id_is_the_one_syft_flwr_addresses() -> None:
    # syft_flwr.utils.str_to_int: zlib.crc32 of the email (checked in the 3.12 run too)
    assert node_id_for(ALICE) == zlib.crc32(b"alice@example.org")
    assert node_id_for(ALICE) != node_id_for(AGG)


def test_keys_live_outside_the_synced_datasites(tmp_path: Path) -> None:
    keys, store = _participant(tmp_path / "datasites", ALICE)
    store.close()
    assert keys.published().is_relative_to(tmp_path / "datasites" / ALICE / "public")
    assert not keys.keystore.is_relative_to(tmp_path / "datasites")
    bundle = sealpack.KeyBundle.from_json(keys.published().read_bytes())
    assert bundle.name == ALICE


def test_first_use_pins_and_shows_the_fingerprint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    datasites = tmp_path / "datasites"
    _, alice = _participant(datasites, ALICE)
    agg_keys, agg = _participant(datasites, AGG)
    with alice, agg:
        pin = pin_peer(agg_keys, agg, ALICE, wait=0)
        assert pin.first_use and pin.fingerprint == alice.identity.fingerprint()
        assert pin.fingerprint in caplog.text
        again = pin_peer(agg_keys, agg, ALICE, wait=0)
        assert not again.first_use
        assert sealpack.KeyBundle.from_json(pin.path.read_bytes()).name == ALICE


def test_republished_bundle_of_another_identity_is_refused(tmp_path: Path) -> None:
    """An attacker who can write the synced file swaps in its own identity: refused."""
    datasites = tmp_path / "datasites"
    alice_keys, alice = _participant(datasites, ALICE)
    agg_keys, agg = _participant(datasites, AGG)
    with alice, agg:
        pin_peer(agg_keys, agg, ALICE, wait=0)
        impostor = sealpack.Identity.generate(ALICE)
        alice_keys.published().write_text(impostor.bundle().to_json())
        with pytest.raises(IdentityChangedError):
            pin_peer(agg_keys, agg, ALICE, wait=0)
        with pytest.raises(IdentityChangedError):  # also after reopening the store
            agg.close()
            with sealpack.KeyStore.open(agg_keys.keystore, passphrase=PASS) as reopened:
                pin_peer(agg_keys, reopened, ALICE, wait=0)


def test_bundle_published_under_another_email_is_refused(tmp_path: Path) -> None:
    datasites = tmp_path / "datasites"
    alice_keys, alice = _participant(datasites, ALICE)
    agg_keys, agg = _participant(datasites, AGG)
    with alice, agg:
        other = sealpack.Identity.generate("mallory@example.org")
        alice_keys.published().write_text(other.bundle().to_json())
        with pytest.raises(BundleError, match=r"names 'mallory@example\.org'"):
            pin_peer(agg_keys, agg, ALICE, wait=0)


def test_expected_fingerprint_refuses_even_on_first_use(tmp_path: Path) -> None:
    datasites = tmp_path / "datasites"
    _, alice = _participant(datasites, ALICE)
    agg_keys, agg = _participant(datasites, AGG)
    with alice, agg:
        wrong = agg.identity.fingerprint()
        with pytest.raises(IdentityChangedError):
            pin_peer(agg_keys, agg, ALICE, expected_fingerprint=wrong, wait=0)
        assert agg.trust_store.pinned_key(ALICE) is None
        right = alice.identity.fingerprint().replace(" ", "")
        assert pin_peer(agg_keys, agg, ALICE, expected_fingerprint=right, wait=0).first_use


def test_missing_or_empty_bundle_is_a_clear_error(tmp_path: Path) -> None:
    agg_keys, agg = _participant(tmp_path / "datasites", AGG)
    with agg:
        with pytest.raises(UnpublishedBundleError, match="no sealpack bundle"):
            pin_peer(agg_keys, agg, ALICE, wait=0)
        path = agg_keys.published(ALICE)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")  # a sync that has not finished
        with pytest.raises(UnpublishedBundleError):
            pin_peer(agg_keys, agg, ALICE, wait=0.3, sleep=lambda _: None)


def test_syft_crypto_is_switched_off_and_an_explicit_true_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(runner.ENCRYPTION_ENV, raising=False)
    runner.switch_off_syft_crypto()
    assert os.environ[runner.ENCRYPTION_ENV] == "false"
    monkeypatch.setenv(runner.ENCRYPTION_ENV, "true")
    with pytest.raises(SyftFlwrConfigError, match="replaces syft-crypto"):
        runner.switch_off_syft_crypto()


def test_atomic_write_never_leaves_a_partial_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.request"
    compat.atomic_write_text(target, "first")
    seen: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        assert target.read_text() == "first"  # the watched name still holds the old file
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        compat.atomic_write_text(target, "second")
    monkeypatch.setattr(os, "replace", real_replace)
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.request"]
    # the temp name never matches the watcher's patterns
    assert not fnmatch.fnmatch(seen[0], "*.request") and not fnmatch.fnmatch(seen[0], "*.response")


def test_flwr_shims_are_a_no_op_on_a_current_flower() -> None:
    pytest.importorskip("flwr")
    assert compat.install_flwr_shims() == []


def test_malformed_settings_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner.PIN_WAIT_ENV, "soon")
    with pytest.raises(SyftFlwrConfigError, match="SEALPACK_PIN_WAIT"):
        runner.prepare(ALICE, Path("/nonexistent"), [AGG], server=False)
    monkeypatch.setenv(runner.PIN_WAIT_ENV, "1")
    monkeypatch.setenv(runner.FINGERPRINTS_ENV, "alice@example.org")
    with pytest.raises(SyftFlwrConfigError, match="SEALPACK_FINGERPRINTS"):
        runner.prepare(ALICE, Path("/nonexistent"), [AGG], server=False)


def test_each_simulation_runs_in_a_fresh_tmpdir(monkeypatch: pytest.MonkeyPatch) -> None:
    """syft-flwr keeps its network in $TMPDIR/<project>: a killed run must not break the next."""
    import shutil
    import tempfile

    from sealpack.integrations.syft_flwr import simulation

    seen: list[dict[str, Any]] = []

    class FakeSimulation:
        @staticmethod
        def remove_rds_stack_dir(path: Path) -> None:  # syft-flwr's own clean-up
            shutil.rmtree(path)

        @staticmethod
        def run(project: Path, paths: list[str]) -> bool:
            (Path(tempfile.gettempdir()) / project.name).mkdir()  # fails if a stale one is there
            FakeSimulation.remove_rds_stack_dir(Path(tempfile.gettempdir()) / project.name)
            seen.append({"tmp": tempfile.gettempdir(), **os.environ})
            return True

    monkeypatch.setattr(simulation, "syft_module", lambda name: FakeSimulation)
    monkeypatch.delenv(runner.PASSPHRASE_ENV, raising=False)
    first = simulation.run_simulation(Path("proj"), [])
    second, kept = simulation.run_simulation(Path("proj"), [], keep_network=True)
    assert first[0] and second
    assert seen[0]["tmp"] != seen[1]["tmp"] == str(kept) == seen[1]["TMPDIR"]
    assert not first[1].exists() and (kept / "proj").is_dir()
    assert seen[0][runner.ENCRYPTION_ENV] == "false" and seen[0][runner.PASSPHRASE_ENV]
    assert seen[0][runner.PASSPHRASE_ENV] != seen[1][runner.PASSPHRASE_ENV]
    assert tempfile.gettempdir() != seen[1]["tmp"]  # restored afterwards
    assert runner.PASSPHRASE_ENV not in os.environ
