"""The key half of the in-memory transport: peers, bundles and one-time prekeys.

:class:`MemorySites` holds every peer's area behind one lock;
:class:`~sealpack.exchange.memory.MemoryTransport` adds the inboxes on top.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sealpack import errors
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.quarantine import QuarantineRecord

__all__ = ["MemorySites"]


@dataclass
class _Site:
    """One peer's area: its published keys, inbox, archive and quarantine."""

    bundle_json: str | None = None
    bundle_version: int = 0
    offered: dict[int, bytes] = field(default_factory=dict)
    claimed: dict[int, list[bytes]] = field(default_factory=dict)
    inbox: dict[str, bytes] = field(default_factory=dict)
    archive: dict[str, bytes] = field(default_factory=dict)
    quarantine: dict[str, tuple[bytes, QuarantineRecord]] = field(default_factory=dict)


class MemorySites:
    """Peers' areas in process memory: registration, bundles, prekey claims."""

    def __init__(self) -> None:
        """Create an empty transport."""
        self._lock = threading.Lock()
        self._sites: dict[str, _Site] = {}

    def __repr__(self) -> str:
        return f"MemoryTransport(peers={sorted(self._sites)!r})"

    def _site(self, name: str) -> _Site:
        site = self._sites.get(check_peer_name(name))
        if site is None:
            raise errors.TransportError(f"unknown peer {name!r}")
        return site

    def register_peer(self, name: str) -> None:
        """Create the peer's areas if absent.

        Args:
            name: the peer.

        Raises:
            errors.TransportError: invalid name.
        """
        with self._lock:
            self._sites.setdefault(check_peer_name(name), _Site())

    def peers(self) -> list[str]:
        """Return all peer names.

        Returns:
            The names, sorted.
        """
        with self._lock:
            return sorted(self._sites)

    def publish_bundle(
        self, name: str, bundle_json: str, one_time_prekeys: Mapping[int, bytes]
    ) -> None:
        """Publish a bundle and offer its unclaimed one-time prekeys.

        Args:
            name: the publishing peer (registered if new).
            bundle_json: its bundle JSON.
            one_time_prekeys: every unconsumed one-time prekey, id to public key.

        Raises:
            errors.TransportError: invalid name.
        """
        with self._lock:
            site = self._sites.setdefault(check_peer_name(name), _Site())
            site.bundle_json = bundle_json
            site.bundle_version += 1
            site.offered = {
                key_id: bytes(public)
                for key_id, public in one_time_prekeys.items()
                if key_id not in site.claimed
            }
            live = set(one_time_prekeys)  # consumed ids are never reused
            site.claimed = {key_id: c for key_id, c in site.claimed.items() if key_id in live}

    def fetch_bundle(self, name: str) -> str:
        """Return the peer's bundle JSON.

        Args:
            name: the peer.

        Returns:
            The JSON as published.

        Raises:
            errors.TransportError: unknown peer or no bundle published.
        """
        with self._lock:
            bundle_json = self._site(name).bundle_json
        if bundle_json is None:
            raise errors.TransportError(f"peer {name!r} has not published a bundle")
        return bundle_json

    def bundle_version(self, name: str) -> int | None:
        """Return how many times the peer published a bundle.

        Args:
            name: the peer.

        Returns:
            The publish counter; None when never published or unknown.
        """
        with self._lock:
            site = self._sites.get(name)
            return site.bundle_version if site is not None and site.bundle_version else None

    def claim_one_time_prekey(
        self, name: str, *, claim: Callable[[int], bytes] | None = None
    ) -> int | None:
        """Take the lowest offered prekey id and store the claimer's signed claim.

        Args:
            name: the peer whose prekey is taken.
            claim: returns the signed claim for the won id (None: an empty claim).

        Returns:
            The id; None when none is offered.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            site = self._site(name)
            if not site.offered:
                return None
            key_id = min(site.offered)
            del site.offered[key_id]
            site.claimed[key_id] = []
        token = claim(key_id) if claim is not None else b""
        with self._lock:
            site.claimed.setdefault(key_id, []).append(token)
        return key_id

    def offers_one_time_prekey(self, name: str, prekey_id: int) -> bool:
        """Tell whether the prekey is still offered (not yet claimed).

        Args:
            name: the peer.
            prekey_id: the one-time prekey id.

        Returns:
            True when it is offered.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            return prekey_id in self._site(name).offered

    def add_claim(self, name: str, key_id: int, token: bytes) -> None:
        """Store one more claim of ``key_id`` (what a hostile peer could do).

        Args:
            name: the peer whose prekey is claimed.
            key_id: the prekey id.
            token: the claim bytes.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            self._site(name).claimed.setdefault(key_id, []).append(bytes(token))

    def list_claims(self, name: str, prekey_id: int | None = None) -> list[bytes]:
        """Return the stored claims of the peer's prekeys, oldest first.

        Args:
            name: the peer.
            prekey_id: only the claims of this prekey; None for all.

        Returns:
            The claim bytes (unverified).

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            claimed = self._site(name).claimed
            ids = list(claimed) if prekey_id is None else [prekey_id]
            return [token for key_id in ids for token in claimed.get(key_id, [])]

    def available_one_time_prekeys(self, name: str) -> int:
        """Return how many prekeys the peer offers.

        Args:
            name: the peer.

        Returns:
            The number of offered prekeys.

        Raises:
            errors.TransportError: unknown peer.
        """
        with self._lock:
            return len(self._site(name).offered)
