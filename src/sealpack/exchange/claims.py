"""Signed one-time prekey claims (datasite format v2, issue 10.10).

A sender that wins ``prekeys/<id>.json`` by rename writes, into its claim file,
a claim signed by its identity key (``Identity.sign(..., purpose=CLAIM_PURPOSE)``)
over the recipient's name and identity key, the prekey id and the claimer's
name. The recipient records, per prekey id, the claimer of the **first** valid
claim it sees (:class:`ClaimBook`), and opens a blob naming a one-time prekey
only when that blob's (claimed, then verified) sender is the recorded claimer:
a peer that reads ``claimed/`` and seals first to the same prekey is refused
without consuming it. Byte layout: docs/spec/datasite.md, "Signed claims".
"""

from __future__ import annotations

import json
import os
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sealpack import errors, regular_files
from sealpack.exchange import atomic
from sealpack.exchange.prekey_files import claimed_prekey_id
from sealpack.keys import Identity, KeyBundle, verify_app_signature
from sealpack.keys.names import NAME_PATTERN

__all__ = [
    "CLAIM_PURPOSE",
    "MAX_CLAIM_BYTES",
    "Claim",
    "claim_files",
    "claim_message",
    "decode_claim",
    "encode_claim",
    "read_claim",
    "unwanted_claim_file",
]

CLAIM_PURPOSE = "sealpack.datasite.prekey-claim.v2"
MAX_CLAIM_BYTES = 4096
_FIELDS = ("claimer", "prekey_id", "recipient", "recipient_key", "signature", "version")


@dataclass(frozen=True)
class Claim:
    """One signed claim, as read from ``claimed/<id>-<r>.json`` (not yet verified).

    Attributes:
        recipient: the name of the peer whose prekey is claimed.
        recipient_key: that peer's identity key (32 bytes).
        prekey_id: the claimed one-time prekey id.
        claimer: the claiming sender's name.
        signature: the claimer's Ed25519 signature (64 bytes).
    """

    recipient: str
    recipient_key: bytes
    prekey_id: int
    claimer: str
    signature: bytes

    def verify(self, claimer_key: bytes) -> bool:
        """Return True when ``claimer_key`` signed exactly this claim.

        Args:
            claimer_key: the claimer's identity key (pinned, or from its bundle).

        Returns:
            Whether the signature is valid.
        """
        message = claim_message(self.recipient, self.recipient_key, self.prekey_id, self.claimer)
        try:
            return verify_app_signature(claimer_key, message, self.signature, purpose=CLAIM_PURPOSE)
        except errors.SealpackError:
            return False


def _name_bytes(name: str) -> bytes:
    encoded = name.encode("ascii")
    return struct.pack(">B", len(encoded)) + encoded


def claim_message(recipient: str, recipient_key: bytes, prekey_id: int, claimer: str) -> bytes:
    """Return the bytes a claim signature covers (before the app-signature label).

    ``u8 len || recipient || recipient identity key (32) || u32be prekey id ||
    u8 len || claimer``.

    Args:
        recipient: the recipient's name.
        recipient_key: its identity key.
        prekey_id: the one-time prekey id.
        claimer: the claimer's name.

    Returns:
        The message to sign.
    """
    return (
        _name_bytes(recipient)
        + bytes(recipient_key)
        + struct.pack(">I", prekey_id)
        + _name_bytes(claimer)
    )


def encode_claim(claimer: Identity, recipient: KeyBundle, prekey_id: int) -> bytes:
    """Sign a claim of ``recipient``'s one-time prekey ``prekey_id`` by ``claimer``.

    Args:
        claimer: the sending identity.
        recipient: the recipient's verified bundle.
        prekey_id: the claimed id.

    Returns:
        The claim file content (UTF-8 JSON, keys sorted).
    """
    message = claim_message(recipient.name, recipient.identity_key, prekey_id, claimer.name)
    signature = claimer.sign(message, purpose=CLAIM_PURPOSE)
    fields = {
        "claimer": claimer.name,
        "prekey_id": prekey_id,
        "recipient": recipient.name,
        "recipient_key": recipient.identity_key.hex(),
        "signature": signature.hex(),
        "version": 2,
    }
    return json.dumps(fields, sort_keys=True).encode("utf-8")


def decode_claim(data: bytes) -> Claim:
    """Parse a claim file (hostile input: bounded, exact fields, no verification).

    Args:
        data: the file content.

    Returns:
        The claim.

    Raises:
        errors.TransportError: not a well-formed version-2 claim.
    """
    try:
        if len(data) > MAX_CLAIM_BYTES:
            raise ValueError("too large")
        raw: Any = json.loads(data.decode("utf-8"))
        if not isinstance(raw, dict) or sorted(raw) != list(_FIELDS) or raw["version"] != 2:
            raise ValueError("fields")
        claim = Claim(
            recipient=_name(raw["recipient"]),
            recipient_key=_hex(raw["recipient_key"], 32),
            prekey_id=_prekey_id(raw["prekey_id"]),
            claimer=_name(raw["claimer"]),
            signature=_hex(raw["signature"], 64),
        )
    except (ValueError, TypeError, RecursionError) as error:
        raise errors.TransportError("malformed prekey claim") from error
    return claim


def _name(value: object) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError("name")
    return value


def _hex(value: object, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ValueError("hex")
    return bytes.fromhex(value)


def _prekey_id(value: object) -> int:
    if type(value) is not int or not 0 <= value < 1 << 32:
        raise ValueError("prekey id")
    return value


# Claim files in a hostile ``claimed/`` folder (any sender writes there).


def _lstat(folder: int, entry: str) -> os.stat_result | None:
    try:
        return os.stat(entry, dir_fd=folder, follow_symlinks=False)
    except OSError:
        return None


def claim_files(folder: int, prekey_id: int | None) -> list[tuple[str, int]]:
    """List the regular, well-named claim files of an open ``claimed/``, oldest first.

    Every entry is stat'ed before any is read, so the order is by ``ctime`` (which
    no writer can set back), never the folder's listing order.

    Args:
        folder: the open ``claimed/`` folder.
        prekey_id: only files named for this id; None for all.

    Returns:
        ``(name, prekey id)`` pairs, oldest ``ctime`` first.
    """
    found = []
    for entry in atomic.list_names(folder):
        key_id = claimed_prekey_id(entry)
        if atomic.is_temporary(entry) or key_id < 0 or prekey_id not in (None, key_id):
            continue
        info = _lstat(folder, entry)
        if info is not None and stat.S_ISREG(info.st_mode):
            found.append((info.st_ctime_ns, entry, key_id))
    return [(entry, key_id) for _, entry, key_id in sorted(found)]


def read_claim(folder: int, entry: str, recipient: str, prekey_id: int) -> bytes | None:
    """Read one claim file if it holds a claim to ``recipient`` of ``prekey_id``.

    Args:
        folder: the open ``claimed/`` folder.
        entry: the file's name.
        recipient: the folder's owner.
        prekey_id: the id its name carries.

    Returns:
        The bytes (unverified); None for junk, a non-regular or an oversized file.
    """
    try:
        data = regular_files.read_regular(folder, entry, limit=MAX_CLAIM_BYTES)
        claim = decode_claim(data)
    except (OSError, errors.SealpackError):
        return None
    return data if (claim.recipient, claim.prekey_id) == (recipient, prekey_id) else None


def unwanted_claim_file(
    folder: int, entry: str, recipient: str, keep: Callable[[int], bool], stale_seconds: float
) -> bool:
    """Tell whether the owner's publish deletes ``entry`` from its ``claimed/``.

    Unwanted: other names, symlinks and non-regular entries, files of ids ``keep``
    refuses (consumed prekeys; prekeys still offered, so claimed by nobody), and a
    file not holding a claim to ``recipient`` ``stale_seconds`` after its last
    change (``ctime``; a claimer writes its claim right after the rename).
    Temporaries are left to their own cleanup.

    Args:
        folder: the open ``claimed/`` folder.
        entry: one of its names.
        recipient: the folder's owner.
        keep: whether claims of a prekey id may stay (asked at this moment).
        stale_seconds: how long a file without a claim may stay.

    Returns:
        True when it should go.
    """
    info = _lstat(folder, entry)
    if atomic.is_temporary(entry) or info is None:
        return False
    key_id = claimed_prekey_id(entry)
    if key_id < 0 or not stat.S_ISREG(info.st_mode) or not keep(key_id):
        return True
    if time.time_ns() - info.st_ctime_ns < stale_seconds * 1e9:
        return False
    return read_claim(folder, entry, recipient, key_id) is None
