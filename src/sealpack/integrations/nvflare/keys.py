"""Where an NVFLARE site's sealpack keys and its peers' bundles come from.

Every filter and the guard carry the same three strings (they end up in the job's
JSON config, so they hold paths and names, never secrets):

* ``keystore``: this site's KeyStore directory; ``{site}`` is replaced by the site
  name NVFLARE gives the process (``server``, ``site-1``, ...).
* ``bundles``: a directory of KeyBundle JSON files (``*.json``), one per site, the
  file's bundle name being the site name. ``{site}`` is allowed here too (the
  provisioning builder puts them in each startup kit's ``local/sealpack_bundles``).
  A bundle whose signed prekey expired is still loaded (its identity key verifies
  that site's messages); only sealing to that site is refused.
* ``unlock_env``: name of the environment variable that holds the KeyStore
  passphrase on every site ("" for an unencrypted store).

One KeyStore handle is opened per process and directory and shared by all
components of that process; sealing and opening through it are serialized.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealpack.integrations.nvflare.errors import NvflareConfigError
from sealpack.keys import KeyBundle, KeyStore
from sealpack.keys.bundle_json import MAX_BUNDLE_JSON
from sealpack.regular_files import read_regular_file

__all__ = ["DEFAULT_PASSPHRASE_ENV", "KeyConfig", "SiteKeys", "close_site_keys", "site_keys"]

DEFAULT_PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class KeyConfig:
    """The key locations every sealpack component of a job is configured with."""

    keystore: str
    bundles: str
    unlock_env: str = DEFAULT_PASSPHRASE_ENV
    server: str = "server"

    def path_for(self, template: str, site: str) -> Path:
        """Fill ``{site}`` in a path template.

        Args:
            template: a path, possibly with ``{site}``.
            site: the site name.

        Returns:
            The path.

        Raises:
            NvflareConfigError: the template names another placeholder.
        """
        try:
            return Path(template.format_map({"site": site}))
        except (KeyError, IndexError, ValueError) as exc:
            raise NvflareConfigError(
                f"path {template!r} may only use the placeholder {{site}}"
            ) from exc


@dataclass
class SiteKeys:
    """One site's open KeyStore and the verified bundles of every site it talks to."""

    site: str
    store: KeyStore
    bundles: dict[str, KeyBundle]
    server: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    held: dict[str, Any] = field(default_factory=dict)  # task id -> UnsealedInfo (hold=True)
    # peer mode: task id -> (the task's round, the hop of its opened data)
    chain: dict[str, tuple[int, int]] = field(default_factory=dict)
    relayed: dict[str, int] = field(default_factory=dict)  # job id -> highest hop sealed

    def bundle(self, name: str) -> KeyBundle:
        """The bundle of site ``name``.

        Raises:
            NvflareConfigError: no bundle of that name in the bundles folder.
        """
        found = self.bundles.get(name)
        if found is None:
            raise NvflareConfigError(f"no sealpack key bundle for site {name!r}")
        return found

    def client_names(self) -> list[str]:
        """Every client site with a bundle (all bundles but the server's), sorted."""
        return sorted(name for name in self.bundles if name != self.server)

    def sealable(self, names: list[str]) -> tuple[list[str], list[str]]:
        """Split site names into those that can be sealed to now and the expired ones.

        Args:
            names: site names with bundles.

        Returns:
            The names whose signed prekey is valid, and those whose prekey expired.
        """
        expired = [name for name in names if self.bundle(name).is_expired()]
        return [name for name in names if name not in expired], expired


_CACHE: dict[tuple[str, str], SiteKeys] = {}
_CACHE_LOCK = threading.Lock()


def _passphrase(env_name: str) -> bytes | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise NvflareConfigError(
            f"environment variable {env_name!r} (key store passphrase) is not set"
        )
    return value.encode()


def _load_bundles(directory: Path) -> dict[str, KeyBundle]:
    if not directory.is_dir():
        raise NvflareConfigError(f"sealpack bundles folder {str(directory)!r} does not exist")
    bundles: dict[str, KeyBundle] = {}
    for file in sorted(directory.glob("*.json")):
        try:
            text = read_regular_file(file, limit=MAX_BUNDLE_JSON)  # never waits on a FIFO
        except OSError as exc:
            raise NvflareConfigError(f"cannot read key bundle {str(file)!r}: {exc}") from exc
        bundle = KeyBundle.from_json(text, now=0)  # expiry: checked when sealing to it
        if bundle.name in bundles:
            raise NvflareConfigError(f"two key bundles claim the site name {bundle.name!r}")
        bundles[bundle.name] = bundle
    if not bundles:
        raise NvflareConfigError(f"no key bundle (*.json) in {str(directory)!r}")
    return bundles


def site_keys(config: KeyConfig, site: str) -> SiteKeys:
    """Open (once per process) the keys of ``site``.

    Args:
        config: where the keys are.
        site: this process's NVFLARE site name.

    Returns:
        The site's keys, shared by every component of the process.

    Raises:
        NvflareConfigError: missing passphrase variable, bundles folder or own bundle.
        KeyStoreError, WrongPassphraseError, BundleError: from sealpack.keys.
    """
    store_path = config.path_for(config.keystore, site).resolve()
    key = (str(store_path), site)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        bundles = _load_bundles(config.path_for(config.bundles, site))
        store = KeyStore.open(store_path, passphrase=_passphrase(config.unlock_env))
        keys = SiteKeys(site=site, store=store, bundles=bundles, server=config.server)
        own = bundles.get(site)
        if own is None or own.identity_key != store.identity.public_identity_key:
            store.close()
            raise NvflareConfigError(
                f"the bundles folder has no bundle of this key store for site {site!r}"
            )
        _CACHE[key] = keys
        return keys


def close_site_keys() -> None:
    """Close and forget every KeyStore this process opened for NVFLARE components."""
    with _CACHE_LOCK:
        for keys in _CACHE.values():
            keys.store.close()
        _CACHE.clear()
