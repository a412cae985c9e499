"""Key stores and bundles for the NVFLARE tests: one site per name, fast scrypt."""

from __future__ import annotations

from pathlib import Path

import sealpack

PASSPHRASE_ENV = "SEALPACK_TEST_NVFLARE_PASSPHRASE"
PASSPHRASE = "correct horse battery staple"


def make_keys(root: Path, sites: list[str]) -> tuple[str, str]:
    """Create ``root/stores/<site>`` key stores and ``root/bundles/<site>.json``.

    Returns:
        The keystore path template (with ``{site}``) and the bundles folder.
    """
    bundles = root / "bundles"
    bundles.mkdir(parents=True, exist_ok=True)
    for site in sites:
        identity = sealpack.Identity.generate(site, one_time_prekeys=2)
        store = sealpack.KeyStore.create(
            root / "stores" / site, identity, passphrase=PASSPHRASE.encode(), scrypt_n=2**10
        )
        (bundles / f"{site}.json").write_text(store.identity.bundle().to_json())
        store.close()
    return str(root / "stores" / "{site}"), str(bundles)
