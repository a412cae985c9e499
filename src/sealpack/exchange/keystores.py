"""Where a peer's key store lives on this machine (never in the synced datasite).

``--keystore DIR``, else ``$SEALPACK_KEYSTORE``, else
``~/.sealpack/keystores/<name>``: one folder per peer name, so several peers can
live on one machine (see the "Command line" section of docs/spec/datasite.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from sealpack import errors

__all__ = ["KEYSTORE_ENV", "keystores_home", "resolve_keystore"]

KEYSTORE_ENV = "SEALPACK_KEYSTORE"


def keystores_home() -> Path:
    """Return the folder holding one key store per peer name (``~/.sealpack/keystores``)."""
    return Path.home() / ".sealpack" / "keystores"


def resolve_keystore(keystore: Path | None, peer_name: str | None) -> Path:
    """Pick the key store folder: ``--keystore``, ``$SEALPACK_KEYSTORE``, or per peer name.

    Args:
        keystore: the ``--keystore`` value, if given.
        peer_name: this peer's name (``peer init NAME`` or ``--as NAME``), if known.

    Returns:
        The folder; ``~/.sealpack/keystores/<name>`` by default. Without a name, the
        only key store in ``~/.sealpack/keystores``.

    Raises:
        errors.KeyStoreError: no name was given and there is not exactly one key store.
    """
    if keystore is not None:
        return Path(keystore).expanduser()
    configured = os.environ.get(KEYSTORE_ENV)
    if configured:
        return Path(configured).expanduser()
    home = keystores_home()
    if peer_name is not None:
        return home / peer_name
    found = sorted(entry.name for entry in home.iterdir()) if home.is_dir() else []
    if len(found) != 1:
        detail = f"several ({', '.join(found)})" if found else "none"
        raise errors.KeyStoreError(
            f"which key store? {home} holds {detail}: pass --as NAME or --keystore DIR"
        )
    return home / found[0]
