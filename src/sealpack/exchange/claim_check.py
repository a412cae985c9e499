"""Before opening: a blob may only use a one-time prekey its sender claimed (issue 10.10).

:class:`ClaimCheck` reads the blob's header (``sealpack.inspect``: nothing is
decrypted or recorded), finds the stanza for this recipient and, when it names a
one-time prekey, requires that the prekey's recorded claimer (see
:mod:`~sealpack.exchange.claim_book`) is the identity key the header names as
sender. The signature check that follows in ``unseal`` then proves that sender.
A blob naming a prekey claimed by another sender is refused **before** opening,
so the prekey is not consumed and the honest claimer's blob still opens.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from sealpack import api, errors
from sealpack.exchange.claim_book import ClaimBook
from sealpack.exchange.claims import decode_claim
from sealpack.exchange.contacts import BundleCache
from sealpack.exchange.transport import Transport
from sealpack.keys import Identity, TrustStore, key_id

__all__ = ["CLAIM_GRACE_SECONDS", "CheckedBlob", "ClaimCheck", "UnclaimedPrekeyError"]

CLAIM_GRACE_SECONDS = 600
"""How long a blob naming a not-yet-claimed prekey waits in the inbox for the claim
file to arrive (file sync may carry the blob before the claim), by its id's time."""


class UnclaimedPrekeyError(errors.PrekeyError):
    """The blob names a one-time prekey for which no valid claim is recorded."""


@dataclass(frozen=True)
class ClaimCheck:
    """What checking a blob's one-time prekey against the recorded claims needs.

    Attributes:
        owner: the receiving peer's name.
        identity: its identity (name, identity key, key id).
        transport: where the claims are stored.
        book: the recorded claimers.
        trust: pinned identity keys of claimers.
        bundles: published bundles (for claimers not pinned yet: whether the sender
            is trusted is decided when the blob is opened, not here).
    """

    owner: str
    identity: Identity
    transport: Transport
    book: ClaimBook
    trust: TrustStore
    bundles: BundleCache

    def check(self, stream: BinaryIO) -> bytes:
        """Refuse a blob whose one-time prekey was not claimed by its (claimed) sender.

        Args:
            stream: the inbox message, open at its start; left just after the header.

        Returns:
            The exact header bytes checked: open the blob from
            :class:`CheckedBlob` ``(header, stream)``, never from the file again (a
            rewrite in between would escape the check).

        Raises:
            UnclaimedPrekeyError: no valid claim of that prekey is recorded.
            errors.PrekeyError: the prekey was claimed by another sender.
            errors.SealpackError: the header is malformed (from ``inspect``).
        """
        recording = _Recording(stream)
        header = api.inspect(cast(BinaryIO, recording))
        mine = self.identity.key_id.hex()
        for stanza in header.recipients:  # every stanza of ours, even a repeated one
            if stanza.key_id == mine and stanza.one_time_prekey_id is not None:
                self._check_prekey(stanza.one_time_prekey_id, header.sender_key_id)
        return bytes(recording.data)

    def _check_prekey(self, prekey_id: int, sender_key_id: str) -> None:
        claimer = self.book.claimer_of(prekey_id)
        if claimer is None:
            self.refresh(prekey_id)
            claimer = self.book.claimer_of(prekey_id)
        if claimer is None:
            raise UnclaimedPrekeyError(
                f"one-time prekey {prekey_id} was not claimed by the sender; refused "
                "without consuming it"
            )
        if key_id(claimer).hex() != sender_key_id:
            raise errors.PrekeyError(
                f"one-time prekey {prekey_id} was claimed by another sender; refused "
                "without consuming it"
            )

    def refresh(self, prekey_id: int) -> int:
        """Record the first valid claim of ``prekey_id`` unless one is recorded already.

        A prekey still offered has no genuine claim: claims of it are not recorded
        (a peer cannot skip the claiming rename and still use the prekey).

        Args:
            prekey_id: the one-time prekey whose claims to read.

        Returns:
            1 when a claim was recorded now, else 0.
        """
        if self.transport.offers_one_time_prekey(self.owner, prekey_id):
            return 0  # still offered: nobody took it, so every claim of it is forged
        if not self._live(prekey_id):
            return 0  # a claim of an id not made yet (ids are a counter) never counts
        for data in self.transport.list_claims(self.owner, prekey_id):
            with contextlib.suppress(errors.SealpackError):
                claim = decode_claim(data)
                if (claim.recipient, claim.recipient_key, claim.prekey_id) != (
                    self.owner,
                    self.identity.public_identity_key,
                    prekey_id,
                ):
                    continue
                claimer_key = self._claimer_key(claim.claimer)
                if claimer_key is None or self.book.is_void(prekey_id, claimer_key):
                    continue
                if claim.verify(claimer_key):
                    self.book.record(claim.prekey_id, claimer_key)
                    return 1  # the first valid claim (oldest ctime) is the one recorded
        return 0

    def void_offered(self) -> int:
        """Read every new claim: void those of offered prekeys, record the others.

        Run at the start of every inbox pass. A claim of a prekey still offered is
        forged in advance: void for good. A valid claim of a prekey no longer offered
        is recorded now (first one wins), not only once its blob arrives: a peer that
        later deletes or replaces the claim file, or puts the offer file back, changes
        nothing (docs/spec/datasite.md, "Signed claims").

        Returns:
            How many claims were voided or recorded now.
        """
        handled = 0
        for data in self.transport.list_claims(self.owner):
            digest = hashlib.sha256(data).digest()
            if digest in self.book.seen:
                continue
            try:
                claim = decode_claim(data)
            except errors.SealpackError:
                claim = None
            if claim is None or not self._for_me(claim.recipient, claim.recipient_key):
                self.book.seen.add(digest)
                continue
            with contextlib.suppress(errors.SealpackError):
                claimer_key = self._claimer_key(claim.claimer)
                if claimer_key is None:
                    continue  # its bundle may still be syncing: look again next pass
                self.book.seen.add(digest)
                if not claim.verify(claimer_key):
                    continue
                if self.transport.offers_one_time_prekey(self.owner, claim.prekey_id):
                    self.book.void(claim.prekey_id, claimer_key)
                elif self._live(claim.prekey_id) and not self.book.is_void(
                    claim.prekey_id, claimer_key
                ):
                    self.book.record(claim.prekey_id, claimer_key)
                handled += 1
        return handled

    def _live(self, prekey_id: int) -> bool:
        """Whether this recipient holds ``prekey_id`` now (re-reading its key file once)."""
        if prekey_id in self.identity.one_time_prekey_ids():
            return True
        return self.identity._refreshed() and prekey_id in self.identity.one_time_prekey_ids()

    def _for_me(self, recipient: str, recipient_key: bytes) -> bool:
        return (recipient, recipient_key) == (self.owner, self.identity.public_identity_key)

    def _claimer_key(self, name: str) -> bytes | None:
        """The claimer's pinned key, else its published one (trust is checked at opening)."""
        pinned = self.trust.pinned_key(name)
        if pinned is not None:
            return pinned
        try:
            bundle = self.bundles.get(name)
        except (errors.SealpackError, OSError):
            return None
        if self.trust.name_for_key(bundle.identity_key) not in (None, name):
            return None  # that key is pinned under another name (issue 10.1)
        return bundle.identity_key


def still_waiting(message_id_ns: int, *, now: float | None = None) -> bool:
    """Tell whether an unclaimed blob delivered at ``message_id_ns`` may wait for its claim.

    Args:
        message_id_ns: the delivery time in the message id (a hint, nanoseconds).
        now: the current time in seconds; ``time.time()`` when None.

    Returns:
        True within :data:`CLAIM_GRACE_SECONDS` after delivery (never for a future time).
    """
    current = time.time() if now is None else now
    age = current - message_id_ns / 1e9
    return 0 <= age < CLAIM_GRACE_SECONDS


class _Recording:
    """A reader that keeps every byte it hands out (the header ``inspect`` parsed)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.data = bytearray()

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.data += chunk
        return chunk


class CheckedBlob(io.RawIOBase):
    """The checked header bytes (from memory), then the rest of the file (issue C.4).

    A header longer than a read buffer would otherwise be read from the file a
    second time by the opener; a peer rewriting the same inode in between would get
    a header opened that was never checked. The rest (payload, signature) may be
    read from the file: the signature over the checked header covers it.
    """

    def __init__(self, header: bytes, rest: BinaryIO) -> None:
        """Serve ``header`` at offsets below its length and ``rest`` at and after it."""
        super().__init__()
        self._header = header
        self._rest = rest
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            offset += self._rest.seek(0, os.SEEK_END)
        elif whence == os.SEEK_CUR:
            offset += self._position
        self._position = max(offset, 0)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = max(0, min(len(view), len(self._header) - self._position))
        view[:count] = self._header[self._position : self._position + count]
        if count < len(view):
            self._rest.seek(self._position + count)
            count += self._rest.readinto(view[count:]) or 0  # type: ignore[attr-defined]
        self._position += count
        return count
