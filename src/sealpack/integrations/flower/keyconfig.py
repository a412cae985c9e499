"""Where a Flower node's sealpack keys come from: explicit values or Flower config.

Trust anchors come from explicit arguments first, then the **node** config
(``context.node_config``, set by whoever runs the SuperNode). A ClientApp never takes
its key store, the server's bundle or the passphrase variable from the run config:
that arrives through the SuperLink, which sealpack does not trust (issue 19.14). The
ServerApp reads its own keys from its run config (:meth:`SealedGrid.from_context`).

Config keys:

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
from sealpack.keys.bundle_json import MAX_BUNDLE_JSON
from sealpack.regular_files import read_named_file, read_regular_file

__all__ = [
    "KEYSTORE",
    "PASSPHRASE_ENV",
    "SERVER_BUNDLE",
    "TRUSTED",
    "config_value",
    "load_bundles",
    "load_pins",
    "node_value",
    "open_keystore",
    "passphrase_of",
    "require",
    "store_path",
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


def node_value(key: str, explicit: str | None, node_config: ConfigMap) -> str | None:
    """A ClientApp setting: the explicit argument, else node_config, never run_config.

    Args:
        key: The config key.
        explicit: The value given in code (wins when set).
        node_config: The SuperNode's own config.

    Returns:
        The value, or None when neither has it.

    Raises:
        FlowerConfigError: node_config holds something other than a string.
    """
    if explicit is not None:
        return explicit
    return config_value(key, None, node_config)


def store_path(template: str, node_config: ConfigMap) -> str:
    """The KeyStore directory: ``template`` with ``{field}`` filled from node_config.

    Raises:
        FlowerConfigError: A placeholder is unknown or malformed.
    """
    try:
        return template.format_map({str(k): v for k, v in node_config.items()})
    except (KeyError, IndexError, ValueError) as exc:
        raise FlowerConfigError(f"cannot fill keystore path {template!r} from node_config") from exc


def passphrase_of(passphrase_env: str | None) -> bytes | None:
    """The passphrase held by environment variable ``passphrase_env`` (None: no passphrase).

    Raises:
        FlowerConfigError: The variable is named but not set.
    """
    if not passphrase_env:
        return None
    value = os.environ.get(passphrase_env)
    if value is None:
        raise FlowerConfigError(f"environment variable {passphrase_env!r} is not set")
    return value.encode()


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
    path = store_path(template, node_config)
    return KeyStore.open(path, passphrase=passphrase_of(passphrase_env))


def load_bundles(path: str | os.PathLike[str], *, check_expiry: bool = True) -> list[KeyBundle]:
    """Load one KeyBundle JSON file, or every ``*.json`` file of a directory.

    Args:
        path: A bundle file or a directory of bundle files.
        check_expiry: Refuse a bundle whose signed prekey has expired.

    Returns:
        The verified bundles (sorted by file name for a directory).

    Raises:
        FlowerConfigError: The path holds no readable bundle.
        BundleError: A bundle is malformed or badly signed (from sealpack.keys).
    """
    target = Path(path)
    listed = target.is_dir()
    files = sorted(target.glob("*.json")) if listed else [target]
    bundles: list[KeyBundle] = []
    for file in files:
        try:  # a listed file must be regular (never wait on a planted FIFO); a file the
            # operator named may be a pipe (process substitution, /dev/fd/N)
            read = read_regular_file if listed else read_named_file
            text = read(file, limit=MAX_BUNDLE_JSON)
        except OSError as exc:
            raise FlowerConfigError(f"cannot read key bundle {str(file)!r}: {exc}") from exc
        bundles.append(KeyBundle.from_json(text, now=None if check_expiry else 0))
    if not bundles:
        raise FlowerConfigError(f"no key bundle found at {str(target)!r}")
    return bundles


def load_pins(path: str | os.PathLike[str]) -> list[KeyBundle]:
    """Load pinned bundles: only their names and identity keys are used as trust anchors.

    The prekeys of a pin file may have expired long ago: fresh prekeys come from the
    handshake (signed by the pinned identity key), so an old pin file stays usable.

    Args:
        path: A bundle file or a directory of bundle files.

    Returns:
        The verified bundles, expired signed prekeys allowed.

    Raises:
        FlowerConfigError: The path holds no readable bundle.
        BundleError: A bundle is malformed or badly signed.
    """
    return load_bundles(path, check_expiry=False)


def require(
    value: str | None, key: str, where: str = "a SealpackClientMod argument or node_config"
) -> str:
    """Return ``value`` or raise a config error naming the missing ``key``.

    Args:
        value: The resolved value.
        key: Its config key (for the message).
        where: Where it may be given (for the message).

    Returns:
        The value.

    Raises:
        FlowerConfigError: The value is missing.
    """
    if not value:
        raise FlowerConfigError(f"sealpack needs {key!r} in {where}")
    return value
