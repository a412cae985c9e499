"""A provisioning builder that puts sealpack keys into NVFLARE startup kits.

In the style of NVFLARE's ``HEBuilder``: list it in ``project.yml`` under
``builders`` (after ``WorkspaceBuilder``)::

    - path: sealpack.integrations.nvflare.provision.SealpackBuilder
      args: {unlock_env: SEALPACK_PASSPHRASE}

For every participant (server and clients) it writes ``local/sealpack_keystore``
(a new identity named after the site, encrypted under the passphrase read from
``unlock_env`` when provisioning) and copies every site's public bundle to
``local/sealpack_bundles/<site>.json``. Jobs then use::

    add_sealpack(recipe, keystore="<kit>/local/sealpack_keystore",
                 bundles="<kit>/local/sealpack_bundles")

With ``bundles_dir`` set, no key is generated: the sites made their own key stores
and sent their bundles (``sealpack bundle export``); the builder only distributes them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from nvflare.lighter.spec import Builder

import sealpack
from sealpack.integrations.nvflare.errors import NvflareConfigError
from sealpack.integrations.nvflare.keys import DEFAULT_PASSPHRASE_ENV
from sealpack.keys.bundle_json import MAX_BUNDLE_JSON
from sealpack.keys.keystore import DEFAULT_SCRYPT_N
from sealpack.regular_files import read_regular_file

__all__ = ["BUNDLES_FOLDER", "KEYSTORE_FOLDER", "SealpackBuilder"]

KEYSTORE_FOLDER = "sealpack_keystore"
BUNDLES_FOLDER = "sealpack_bundles"


class SealpackBuilder(Builder):  # type: ignore[misc]
    """Generate a key store per site and hand every site all bundles.

    Args:
        unlock_env: variable holding the key stores' passphrase at provisioning.
        bundles_dir: distribute the bundles found here instead of generating keys.
        scrypt_n: scrypt cost of the key stores (default: the KeyStore default).
    """

    def __init__(
        self, unlock_env: str = DEFAULT_PASSPHRASE_ENV, bundles_dir: str = "", scrypt_n: int = 0
    ) -> None:
        self.unlock_env = unlock_env
        self.bundles_dir = bundles_dir
        self.scrypt_n = scrypt_n

    def build(self, project: Any, ctx: Any) -> None:
        """Write the key stores and bundle folders into every participant's ``local/``.

        Raises:
            NvflareConfigError: the passphrase variable is unset, or a bundle is missing.
        """
        participants = [p for p in [project.get_server(), *project.get_clients()] if p]
        bundles = self._bundles(participants, ctx)
        for participant in participants:
            folder = Path(ctx.get_local_dir(participant)) / BUNDLES_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in bundles.items():
                (folder / f"{name}.json").write_text(text)

    def _bundles(self, participants: list[Any], ctx: Any) -> dict[str, str]:
        if self.bundles_dir:
            return self._given_bundles(participants)
        passphrase = os.environ.get(self.unlock_env, "")
        if not passphrase:
            raise NvflareConfigError(f"environment variable {self.unlock_env!r} is not set")
        bundles: dict[str, str] = {}
        for participant in participants:
            path = Path(ctx.get_local_dir(participant)) / KEYSTORE_FOLDER
            if path.exists():
                shutil.rmtree(path)
            identity = sealpack.Identity.generate(participant.name)
            store = sealpack.KeyStore.create(
                path,
                identity,
                passphrase=passphrase.encode(),
                scrypt_n=self.scrypt_n or DEFAULT_SCRYPT_N,
            )
            bundles[participant.name] = store.identity.bundle().to_json()
            store.close()
        return bundles

    def _given_bundles(self, participants: list[Any]) -> dict[str, str]:
        bundles: dict[str, str] = {}
        for participant in participants:
            file = Path(self.bundles_dir) / f"{participant.name}.json"
            try:
                text = read_regular_file(file, limit=MAX_BUNDLE_JSON).decode()
            except (OSError, UnicodeDecodeError) as exc:
                raise NvflareConfigError(
                    f"no bundle for site {participant.name!r} at {str(file)!r}"
                ) from exc
            if sealpack.KeyBundle.from_json(text).name != participant.name:
                raise NvflareConfigError(f"bundle {str(file)!r} is not named {participant.name!r}")
            bundles[participant.name] = text
        return bundles
