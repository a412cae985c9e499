"""Where a Flower node's sealpack keys come from: explicit values or Flower config.

Config keys (looked up in ``context.node_config`` first, then ``context.run_config``):

* ``sealpack-keystore`` - this node's KeyStore directory. ``{name}`` fields are
  filled from node_config, e.g. ``/keys/client-{partition-id}`` in simulations.
* ``sealpack-passphrase-env`` - name of the environment variable holding the
  KeyStore passphrase (unset: the KeyStore must be unencrypted).
* ``sealpack-server-bundle`` - ClientApps: the ServerApp's KeyBundle JSON file.
* ``sealpack-trusted`` - ServerApp: a KeyBundle JSON file or a directory of them
  (every ``*.json``), the ClientApps it will talk to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sealpack.integrations.flower.errors import FlowerConfigError
from sealpack.keys import KeyBundle, KeyStore

__all__ = [
    "KEYSTORE",
    "PASSPHRASE_ENV",
    "SERVER_BUNDLE",
    "TRUSTED",
    "config_value",
    "load_bundles",
    "open_keystore",
    "require",
]

KEYSTORE = "sealpack-keystore"
PASSPHRASE_ENV = "sealpack-passphrase-env"  # noqa: S105 - a config key name, not a secret
SERVER_BUNDLE = "sealpack-server-bundle"
TRUSTED = "sealpack-trusted"

ConfigMap = Mapping[str, object]


def config_value(key: str, default: str | None, *configs: ConfigMap) -> str | None:
    """Return the first string value of ``key`` among ``configs``, else ``default``.

    Args:
        key: The config key.
        default: Value used when no config has the key.
        configs: Config mappings in priority order (node_config, run_config).

    Returns:
        The value, or ``default``.

    Raises:
        FlowerConfigError: The key holds something other than a string.
    """
    for config in configs:
        if key in config:
            value = config[key]
            if not isinstance(value, str):
                raise FlowerConfigError(f"config {key!r} must be a string")
            return value
    return default


def open_keystore(template: str, passphrase_env: str | None, node_config: ConfigMap) -> KeyStore:
    """Open a node's KeyStore, filling ``{field}`` placeholders from node_config.

    Args:
        template: KeyStore directory, possibly with ``{field}`` placeholders.
        passphrase_env: Environment variable holding the passphrase, or None.
        node_config: Flower node config used to fill placeholders.

    Returns:
        The opened KeyStore.

    Raises:
        FlowerConfigError: A placeholder is unknown or the passphrase variable is unset.
        KeyStoreError: The store cannot be opened (from sealpack.keys).
    """
    try:
        path = template.format_map({str(k): v for k, v in node_config.items()})
    except (KeyError, IndexError, ValueError) as exc:
        raise FlowerConfigError(f"cannot fill keystore path {template!r} from node_config") from exc
    passphrase: bytes | None = None
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if value is None:
            raise FlowerConfigError(f"environment variable {passphrase_env!r} is not set")
        passphrase = value.encode()
    return KeyStore.open(path, passphrase=passphrase)


def load_bundles(path: str | os.PathLike[str]) -> list[KeyBundle]:
    """Load one KeyBundle JSON file, or every ``*.json`` file of a directory.

    Args:
        path: A bundle file or a directory of bundle files.

    Returns:
        The verified bundles (sorted by file name for a directory).

    Raises:
        FlowerConfigError: The path holds no readable bundle.
        BundleError: A bundle is malformed or badly signed (from sealpack.keys).
    """
    target = Path(path)
    files = sorted(target.glob("*.json")) if target.is_dir() else [target]
    bundles: list[KeyBundle] = []
    for file in files:
        try:
            text = file.read_bytes()
        except OSError as exc:
            raise FlowerConfigError(f"cannot read key bundle {str(file)!r}") from exc
        bundles.append(KeyBundle.from_json(text))
    if not bundles:
        raise FlowerConfigError(f"no key bundle found at {str(target)!r}")
    return bundles


def require(value: str | None, key: str) -> str:
    """Return ``value`` or raise a config error naming the missing ``key``.

    Args:
        value: The resolved value.
        key: Its config key (for the message).

    Returns:
        The value.

    Raises:
        FlowerConfigError: The value is missing.
    """
    if not value:
        raise FlowerConfigError(f"sealpack needs {key!r} in the node or run config")
    return value
