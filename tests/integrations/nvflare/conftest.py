"""Fixtures of the NVFLARE integration tests (nvflare is imported only when used)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def flare_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Key stores for server, site-1, site-2; the filter arguments that find them."""
    pytest.importorskip("nvflare")
    from sealpack.integrations.nvflare.keys import close_site_keys
    from tests.integrations.nvflare.keys_harness import PASSPHRASE, PASSPHRASE_ENV, make_keys

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    keystore, bundles = make_keys(tmp_path / "keys", ["server", "site-1", "site-2"])
    yield {"keystore": keystore, "bundles": bundles, "unlock_env": PASSPHRASE_ENV}
    close_site_keys()
