"""A ClientApp node's keys: its KeyStore, the pinned server, its instruction marks.

A long-lived worker process keeps **one open handle** per node key store (issue 10.11):
the passphrase KDF (scrypt) runs once per process, not once per message. This is safe
across processes because every key store write holds the store's lock and re-reads the
key file first (docs/spec/keys.md). The mod itself holds only strings, so Flower can
ship it to worker processes; each process opens its own handles on first use.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sealpack.integrations.flower import keyconfig
from sealpack.integrations.flower.errors import FlowerConfigError
from sealpack.integrations.flower.seen import SeenInstructions
from sealpack.keys import KeyBundle, KeyStore

__all__ = ["KeySettings", "NodeKeys", "close_all", "node_keys"]


@dataclass(frozen=True)
class KeySettings:
    """Where a node's keys are: explicit values, else node_config (never run_config)."""

    keystore: str | None
    server_bundle: str | None
    passphrase_env: str | None

    def resolve(self, node_config: Mapping[str, object]) -> tuple[str, str, str | None]:
        """``(keystore template, server bundle path, passphrase env)`` for this node.

        Raises:
            FlowerConfigError: A required setting is missing or not a string.
        """
        template = keyconfig.require(
            keyconfig.node_value(keyconfig.KEYSTORE, self.keystore, node_config),
            keyconfig.KEYSTORE,
        )
        server = keyconfig.require(
            keyconfig.node_value(keyconfig.SERVER_BUNDLE, self.server_bundle, node_config),
            keyconfig.SERVER_BUNDLE,
        )
        env = keyconfig.node_value(keyconfig.PASSPHRASE_ENV, self.passphrase_env, node_config)
        return template, server, env


@dataclass
class NodeKeys:
    """One node's open key store, its pinned server bundle and its instruction marks."""

    store: KeyStore
    server: KeyBundle  # the pin: only its name and identity key are trusted
    seen: SeenInstructions
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        """The node identity's name."""
        return self.store.identity.name

    def close(self) -> None:
        """Close the key store and the marks database."""
        self.seen.close()
        self.store.close()


_OPEN: dict[tuple[str, str, str | None], NodeKeys] = {}
_OPEN_LOCK = threading.Lock()


def _open(
    template: str, server_path: str, env: str | None, node_config: Mapping[str, object]
) -> NodeKeys:
    store = keyconfig.open_keystore(template, env, node_config)
    try:
        pin = _the_server_pin(server_path)
        return NodeKeys(store=store, server=pin, seen=SeenInstructions(store.path))
    except BaseException:
        store.close()
        raise


def _the_server_pin(server_path: str) -> KeyBundle:
    """The one bundle of the ServerApp: ``server_path`` must be a single bundle file (a
    folder of bundles would pin whichever sorted first, perhaps another node).

    Raises:
        FlowerConfigError: a folder, or not exactly one bundle.
    """
    if Path(server_path).is_dir():
        raise FlowerConfigError(
            "the server bundle setting names a folder; it must name the ServerApp's one bundle file"
        )
    pins = keyconfig.load_pins(server_path)
    if len(pins) != 1:
        raise FlowerConfigError("the server bundle setting must name exactly one bundle")
    return pins[0]


@contextmanager
def node_keys(
    settings: KeySettings, node_config: Mapping[str, object], *, keep_open: bool
) -> Iterator[NodeKeys]:
    """The node's keys for the duration of one message.

    Args:
        settings: Where the keys are.
        node_config: The SuperNode's config (fills ``{field}`` placeholders).
        keep_open: Reuse one handle per process (else open and close per message).

    Yields:
        The node's keys; with ``keep_open`` held exclusively by this thread.

    Raises:
        FlowerConfigError, KeyStoreError, BundleError: The keys cannot be opened.
    """
    template, server_path, env = settings.resolve(node_config)
    if not keep_open:
        keys = _open(template, server_path, env, node_config)
        try:
            yield keys
        finally:
            keys.close()
        return
    cache_key = (keyconfig.store_path(template, node_config), server_path, env)
    with _OPEN_LOCK:
        cached = _OPEN.get(cache_key)
        if cached is None:
            cached = _open(template, server_path, env, node_config)
            _OPEN[cache_key] = cached
    with cached.lock:
        yield cached


def close_all() -> None:
    """Close every handle kept open in this process (also run at exit)."""
    with _OPEN_LOCK:
        for keys in _OPEN.values():
            keys.close()
        _OPEN.clear()


atexit.register(close_all)
