"""Bundle folders of the Flower and NVFLARE configurations: a FIFO or a huge file planted
among the ``*.json`` bundles is a prompt config error, never a hang or a whole read."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import sealpack
from sealpack.integrations.flower.errors import FlowerConfigError
from sealpack.integrations.flower.keyconfig import load_bundles, load_pins
from sealpack.integrations.nvflare.errors import NvflareConfigError
from sealpack.integrations.nvflare.keys import KeyConfig, close_site_keys, site_keys
from sealpack.keys.bundle_json import MAX_BUNDLE_JSON
from tests.fifo import call_or_hang
from tests.integrations.nvflare.keys_harness import PASSPHRASE, PASSPHRASE_ENV, make_keys


def _flower_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "trusted"
    folder.mkdir()
    (folder / "alice.json").write_text(sealpack.Identity.generate("alice").bundle().to_json())
    return folder


def _nvflare_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Callable[[], object]]:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    store, bundles = make_keys(tmp_path / "k", ["server", "site-1"])
    config = KeyConfig(keystore=store, bundles=bundles, unlock_env=PASSPHRASE_ENV)
    return Path(bundles), lambda: site_keys(config, "site-1")


@pytest.fixture(autouse=True)
def _forget_site_keys() -> object:
    yield
    close_site_keys()


def test_flower_a_fifo_among_the_bundles_is_a_config_error_at_once(tmp_path: Path) -> None:
    """Attack: ``mkfifo trusted/evil.json``. Before, load_bundles read it with
    Path.read_bytes and the ServerApp never started."""
    folder = _flower_folder(tmp_path)
    os.mkfifo(folder / "evil.json")
    for load in (load_bundles, load_pins):
        hung, outcome = call_or_hang(functools.partial(load, folder), folder / "evil.json")
        assert not hung, f"{load.__name__} blocked on a FIFO"
        assert isinstance(outcome[0], FlowerConfigError)
        assert "not a regular file" in str(outcome[0])


def test_flower_a_huge_bundle_is_refused_unread(tmp_path: Path) -> None:
    folder = _flower_folder(tmp_path)
    with (folder / "huge.json").open("wb") as handle:
        handle.truncate(64 << 30)  # sparse: read whole, it would exhaust memory
    with pytest.raises(FlowerConfigError, match="larger than"):
        load_bundles(folder)


def test_flower_symlinked_bundles_still_load(tmp_path: Path) -> None:
    """Configuration folders are often links (a Kubernetes ConfigMap): they still work."""
    folder = _flower_folder(tmp_path)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "alice.json").symlink_to(folder / "alice.json")
    assert [b.name for b in load_bundles(linked)] == ["alice"]


def test_nvflare_a_fifo_in_the_bundles_folder_is_a_config_error_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a FIFO among the kit's bundles. Before, site_keys blocked for ever in
    Path.read_bytes while holding the process-wide key cache lock."""
    bundles, load = _nvflare_loader(tmp_path, monkeypatch)
    os.mkfifo(bundles / "evil.json")
    hung, outcome = call_or_hang(load, bundles / "evil.json")
    assert not hung, "site_keys blocked on a FIFO"
    assert isinstance(outcome[0], NvflareConfigError)


def test_nvflare_a_huge_bundle_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles, load = _nvflare_loader(tmp_path, monkeypatch)
    with (bundles / "huge.json").open("wb") as handle:
        handle.truncate(MAX_BUNDLE_JSON + 1)
    with pytest.raises(NvflareConfigError, match="larger than"):
        load()


def test_flower_a_bundle_named_explicitly_may_come_through_a_pipe(tmp_path: Path) -> None:
    """Regression found in review: ``--server-bundle <(cat bundle.json)`` gives /dev/fd/N,
    a pipe, which the regular-file rule refused. A file the operator names may be a pipe;
    only files found by listing a folder must be regular."""
    text = sealpack.Identity.generate("server").bundle().to_json().encode()
    reader, writer = os.pipe()
    feeder = threading.Thread(target=lambda: (os.write(writer, text), os.close(writer)))
    feeder.start()
    try:
        (bundle,) = load_bundles(f"/dev/fd/{reader}")
    finally:
        feeder.join(5)
        os.close(reader)
    assert bundle.name == "server"
