"""Shims that let sealpack's Flower integration and syft-rpc work inside syft-flwr 0.5.3.

syft-flwr 0.5.3 pins Flower 1.25, where two modules that sealpack's Flower
integration imports (written for Flower 1.41) live elsewhere:

* ``flwr.app.message.make_message`` was ``flwr.common.message.make_message``;
* ``flwr.supercore.run.Run`` was ``flwr.common.typing.Run``;
* ``flwr.clientapp.typing.Mod`` was only ``flwr.client.typing.Mod``.

:func:`install_flwr_shims` registers the 1.41 names as aliases of the 1.25 objects
(only where the 1.41 name is missing, so it is a no-op on newer Flower).

syft-rpc writes request and response files in place (``Path.write_text``); its
watcher reacts to the file's creation and may read it while still empty, which
loses the message and leaves the sender waiting for its timeout (3600 s by default).
:func:`install_atomic_rpc_writes` makes those writes atomic: a temp file beside the
target (not matching ``*.request`` / ``*.response``), fsync, then ``os.replace``,
which the watcher sees as a move to the final name (it handles moves).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from sealpack.integrations.syft_flwr.errors import SyftFlwrNotInstalledError

__all__ = ["atomic_write_text", "install_atomic_rpc_writes", "install_flwr_shims", "syft_module"]

_ALIASES = {
    "flwr.app.message": ("flwr.common.message", ("make_message",)),
    "flwr.supercore.run": ("flwr.common.typing", ("Run",)),
    "flwr.clientapp.typing": ("flwr.client.typing", ("Mod",)),
}


def syft_module(name: str) -> Any:
    """Import a module of syft-flwr (or its stack) with a clear error when it is missing.

    Args:
        name: The module, e.g. ``"syft_flwr.run_simulation"``.

    Returns:
        The module.

    Raises:
        SyftFlwrNotInstalledError: syft-flwr is not installed here.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SyftFlwrNotInstalledError() from exc


def install_flwr_shims() -> list[str]:
    """Alias the Flower 1.41 module paths sealpack uses onto Flower 1.25's.

    Returns:
        The module names that had to be completed (empty on a Flower that has them).
    """
    installed: list[str] = []
    for name, (source, attributes) in _ALIASES.items():
        try:
            target = importlib.import_module(name)
        except ImportError:
            target = types.ModuleType(name, f"sealpack alias of {source} (Flower 1.25)")
            sys.modules[name] = target
        missing = [a for a in attributes if not hasattr(target, a)]
        if missing:
            origin = importlib.import_module(source)
            for attribute in missing:
                setattr(target, attribute, getattr(origin, attribute))
            installed.append(name)
    return installed


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file beside it, fsync, rename).

    Args:
        path: The target file; its directory must exist.
        text: The text, written as UTF-8.

    Raises:
        OSError: The write or the rename failed (the target is left untouched).
    """
    target = Path(path)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def install_atomic_rpc_writes() -> bool:
    """Make syft-rpc write its request/response files atomically (see module doc).

    Returns:
        True once installed (also when it already was).
    """
    protocol = syft_module("syft_rpc.protocol")
    base: Any = protocol.Base
    if getattr(base.dump, "_sealpack_atomic", False):
        return True

    def dump(self: Any, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, self.dumps())

    dump._sealpack_atomic = True  # type: ignore[attr-defined]
    base.dump = dump
    return True
