"""Key store set-ups shared by the key store tests."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from sealpack.keys import Identity, KeyStore
from sealpack.keys.keystore import KEY_FILE


def swap_in_unencrypted_key_file(target: Path, scratch: Path) -> None:
    """Create an unencrypted store "bob" at ``scratch`` and copy its key file over ``target``'s.

    The attack of a folder writer who swaps in a key file that needs no passphrase.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        KeyStore.create(
            scratch,
            Identity.generate("bob", one_time_prekeys=0),
            passphrase=None,
            unencrypted=True,
        ).close()
    shutil.copy(scratch / KEY_FILE, target / KEY_FILE)
