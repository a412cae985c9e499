"""An expired bundle in the bundles folder: only sealing to that site is refused.

Signed prekeys expire (30 days by default) and SealpackBuilder makes every kit's
bundles at the same moment, so a site that did not rotate is an ordinary event, not
an attack: it must not stop the sites whose keys are fine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("nvflare")

from nvflare.apis.dxo import from_shareable

import sealpack
from sealpack.integrations.nvflare import filters as flt
from sealpack.integrations.nvflare.errors import NvflareConfigError, RefusedPayloadError
from tests.integrations.nvflare import fakes

# site-2 opening its own expired key store warns (as it should); not under test here
pytestmark = pytest.mark.filterwarnings("ignore:the signed prekey of key store")

EXPIRED_AT = int(time.time()) - 40 * 86400  # created 40 days ago: prekey expired


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """server and site-1 with valid keys; site-2's key store and bundle 40 days old."""
    from sealpack.integrations.nvflare.keys import close_site_keys
    from tests.integrations.nvflare.keys_harness import PASSPHRASE, PASSPHRASE_ENV, make_keys

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    store, bundles = make_keys(tmp_path / "k", ["server", "site-1"])
    old = sealpack.Identity.generate("site-2", now=EXPIRED_AT)
    sealpack.KeyStore.create(
        tmp_path / "k" / "stores" / "site-2", old, passphrase=PASSPHRASE.encode(), scrypt_n=2**10
    ).close()
    (Path(bundles) / "site-2.json").write_text(old.bundle().to_json())
    yield {"keystore": store, "bundles": bundles, "unlock_env": PASSPHRASE_ENV}
    close_site_keys()


def test_one_expired_bundle_in_the_folder_does_not_stop_every_site(keys: dict[str, Any]) -> None:
    """Failure: loading the folder refused the expired bundle, so every filter of every
    site raised (also between the server and site-1, whose keys are fine)."""
    result = flt.SealTaskResultFilter(**keys).process(
        fakes.task_data(fakes.model()), fakes.context("site-1", task_id="c-1")
    )
    opened = flt.OpenTaskResultFilter(**keys).process(
        result, fakes.context("server", task_id="c-1", peer="site-1")
    )
    np.testing.assert_array_equal(from_shareable(opened).data["w"], fakes.model()["w"])


def test_a_broadcast_leaves_the_expired_site_out_and_it_alone_refuses(
    keys: dict[str, Any],
) -> None:
    sealed = flt.SealTaskDataFilter(**keys).process(
        fakes.task_data(fakes.model()), fakes.context("server", task_id="s-1")
    )
    opened = flt.OpenTaskDataFilter(**keys).process(sealed, fakes.context("site-1"))
    np.testing.assert_array_equal(from_shareable(opened).data["b"], fakes.model()["b"])
    with pytest.raises(RefusedPayloadError):  # not a recipient: its own task fails closed
        flt.OpenTaskDataFilter(**keys).process(sealed, fakes.context("site-2"))


def test_the_expired_site_still_sends_verified_results(keys: dict[str, Any]) -> None:
    """Its identity key still verifies what it sends (the server's bundle is valid)."""
    result = flt.SealTaskResultFilter(**keys).process(
        fakes.task_data(fakes.model(2)), fakes.context("site-2", task_id="c-2")
    )
    opened = flt.OpenTaskResultFilter(**keys).process(
        result, fakes.context("server", task_id="c-2", peer="site-2")
    )
    np.testing.assert_array_equal(from_shareable(opened).data["w"], fakes.model(2)["w"])


def test_a_relay_only_to_expired_sites_is_a_config_error(keys: dict[str, Any]) -> None:
    """Peer mode: site-1's only peer is site-2, whose bundle expired: nothing to seal to."""
    with pytest.raises(NvflareConfigError, match="expired"):
        flt.SealTaskResultFilter(**keys, peer_mode=True).process(
            fakes.task_data(fakes.model()), fakes.context("site-1", task_id="c-1")
        )
