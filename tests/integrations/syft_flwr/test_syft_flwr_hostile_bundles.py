"""Published bundles are hostile files, and one datasite cannot stop the aggregator.

Everything under the synced ``datasites`` folder is written by others: a published
``bundle.json`` may be a FIFO, a symlink (to /dev/zero, to a FIFO, out of the folder),
huge, or sit under a symlinked folder. A datasite whose bundle cannot be pinned is
left out of the run; the run goes on with the others.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

import sealpack
from sealpack.errors import BundleError, IdentityChangedError
from sealpack.integrations.flower import keyconfig
from sealpack.integrations.syft_flwr import runner
from sealpack.integrations.syft_flwr.datasite_keys import (
    MAX_BUNDLE_BYTES,
    DatasiteKeys,
    open_or_create,
    pin_peer,
    publish,
)
from sealpack.integrations.syft_flwr.errors import SyftFlwrConfigError
from tests.fifo import call_or_hang

AGG, ALICE, BOB = "agg@example.org", "alice@example.org", "bob@example.org"


def _pin_in_thread(
    keys: DatasiteKeys, store: sealpack.KeyStore, fifo: Path
) -> tuple[bool, list[object]]:
    """Run pin_peer(BOB) with a deadline; (hung, [PinResult or the error])."""
    return call_or_hang(lambda: pin_peer(keys, store, BOB, wait=0.5), fifo)


@pytest.fixture
def aggregator(tmp_path: Path) -> tuple[DatasiteKeys, sealpack.KeyStore, Path]:
    keys = DatasiteKeys(AGG, tmp_path / "datasites")
    store = open_or_create(keys, b"pass")
    publish(keys, store)
    target = keys.published(BOB)
    target.parent.mkdir(parents=True)
    return keys, store, target


def test_pin_peer_does_not_hang_on_a_published_fifo(
    aggregator: tuple[DatasiteKeys, sealpack.KeyStore, Path],
) -> None:
    """Attack: a participant sharing the file system (syft-flwr's local simulation, a
    shared disk) makes its bundle.json a named pipe. pin_peer checked st_size (0) and
    then read_bytes() blocked for ever: the aggregator's main() never started. Now the
    file is opened O_NOFOLLOW|O_NONBLOCK and must be a regular file: BundleError."""
    keys, store, target = aggregator
    os.mkfifo(target)
    hung, outcome = _pin_in_thread(keys, store, target)
    store.close()
    assert not hung, "pin_peer blocked on a FIFO published as bundle.json"
    assert outcome and isinstance(outcome[0], BundleError)


@pytest.mark.parametrize("link_to", ["/dev/zero", "fifo", "elsewhere.json"])
def test_a_symlinked_bundle_is_refused_without_reading_it(
    aggregator: tuple[DatasiteKeys, sealpack.KeyStore, Path], link_to: str
) -> None:
    """Attack: bundle.json a symlink to /dev/zero (read without bound before), to a FIFO
    (blocked for ever) or to a valid bundle elsewhere: never followed, BundleError."""
    keys, store, target = aggregator
    elsewhere = target.parent.parent / link_to
    if link_to == "fifo":
        os.mkfifo(elsewhere)
    elif link_to.endswith(".json"):
        elsewhere.write_text(sealpack.Identity.generate(BOB).bundle().to_json())
    target.symlink_to(elsewhere if link_to != "/dev/zero" else Path(link_to))
    hung, outcome = _pin_in_thread(keys, store, elsewhere)
    store.close()
    assert not hung
    assert outcome and isinstance(outcome[0], BundleError)


def test_a_symlinked_folder_or_a_huge_bundle_is_refused(
    aggregator: tuple[DatasiteKeys, sealpack.KeyStore, Path], tmp_path: Path
) -> None:
    """The path is opened folder by folder without following links; size is bounded."""
    keys, store, target = aggregator
    with target.open("wb") as handle:
        handle.truncate(MAX_BUNDLE_BYTES + 1)
    with store, pytest.raises(BundleError, match="larger than"):
        pin_peer(keys, store, BOB, wait=0)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "bundle.json").write_text(sealpack.Identity.generate(BOB).bundle().to_json())
    target.unlink()
    target.parent.rmdir()
    target.parent.symlink_to(outside)
    with open_or_create(keys, b"pass") as again, pytest.raises(BundleError, match="symlink"):
        pin_peer(keys, again, BOB, wait=0)


def _datasites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(runner.PIN_WAIT_ENV, "0")
    monkeypatch.delenv(runner.PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(runner.FINGERPRINTS_ENV, raising=False)
    datasites = tmp_path / "datasites"
    alice = DatasiteKeys(ALICE, datasites)
    with open_or_create(alice, None) as store:
        publish(alice, store)
    return datasites


def _pins(values: dict[str, str]) -> list[str]:
    return sorted(p.name for p in Path(values[keyconfig.TRUSTED]).iterdir())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_one_bad_datasite_bundle_does_not_stop_the_aggregator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack: one datasite of the project publishes a bundle naming another email.
    runner.prepare let the first pin failure escape, so the aggregator's main() died
    before the ServerApp started, for every honest datasite. Now it is logged and left
    out (not pinned); the run goes on with the others."""
    datasites = _datasites(tmp_path, monkeypatch)
    bob = DatasiteKeys(BOB, datasites)
    bob.published().parent.mkdir(parents=True)
    bob.published().write_text(sealpack.Identity.generate("mallory@example.org").bundle().to_json())
    with caplog.at_level(logging.ERROR):
        values = runner.prepare(AGG, datasites, [ALICE, BOB], server=True)
    assert _pins(values) == [f"{ALICE}.json"]
    assert f"datasite {BOB} left out of this run: BundleError" in caplog.text


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_changed_or_missing_datasite_is_left_out_and_its_old_pin_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A datasite pinned in an earlier run that now shows another identity (or nothing)
    is left out of this run: its pin file of the earlier run is not used (trust store
    pin kept, so the change is still refused next time)."""
    datasites = _datasites(tmp_path, monkeypatch)
    bob = DatasiteKeys(BOB, datasites)
    with open_or_create(bob, None) as store:
        publish(bob, store)
    assert _pins(runner.prepare(AGG, datasites, [ALICE, BOB], server=True)) == [
        f"{ALICE}.json",
        f"{BOB}.json",
    ]
    bob.published().write_text(sealpack.Identity.generate(BOB).bundle().to_json())
    assert _pins(runner.prepare(AGG, datasites, [ALICE, BOB], server=True)) == [f"{ALICE}.json"]
    agg = DatasiteKeys(AGG, datasites)
    with open_or_create(agg, None) as store, pytest.raises(IdentityChangedError):
        pin_peer(agg, store, BOB, wait=0)
    bob.published().unlink()  # offline now
    assert _pins(runner.prepare(AGG, datasites, [ALICE, BOB], server=True)) == [f"{ALICE}.json"]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_no_datasite_pinned_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nobody to run with, the aggregator stops with a typed error, not a hang."""
    datasites = _datasites(tmp_path, monkeypatch)
    with pytest.raises(SyftFlwrConfigError, match="no datasite could be pinned"):
        runner.prepare(AGG, datasites, [BOB], server=True)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_datasites_published_late_are_waited_for_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEALPACK_PIN_WAIT is one wait for all datasites (not one each): a datasite that
    publishes while the aggregator waits is pinned, an absent one costs the wait once."""
    datasites = _datasites(tmp_path, monkeypatch)
    monkeypatch.setenv(runner.PIN_WAIT_ENV, "1.5")
    bob = DatasiteKeys(BOB, datasites)
    later = threading.Timer(0.5, lambda: _publish(bob))
    later.start()
    values = runner.prepare(AGG, datasites, ["carol@example.org", BOB, ALICE], server=True)
    later.join()
    assert _pins(values) == [f"{ALICE}.json", f"{BOB}.json"]


def _publish(keys: DatasiteKeys) -> None:
    with open_or_create(keys, None) as store:
        publish(keys, store)
