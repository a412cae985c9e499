"""Plaintext encoding of session states (session.md section 6; encrypted by storage.py).

A msgpack map ``{"v": 3, "sessions": [state, ...]}``; each state a map of its fields, the
skipped keys as ``[[ratchet key, number, key, stored at], ...]`` (oldest first), the
chain records as ``[[ratchet key, floor, end or nil], ...]`` and the keys of held
(opened, not yet acknowledged) messages as ``[[ratchet key, number, key], ...]``.

Version 3 (this one) allows a DH ratchet step whose sending half is pending: ``cks``
and ``dhs_public`` nil while ``dhr`` is set (``dhs`` is then the key drawn at the
step). Version 2 files (every step complete) are read as they are and written back as
version 3. A state may carry ``"retired": true`` (receive only: the peer started a newer
session); a state without the entry is not retired.
"""

from __future__ import annotations

from typing import Any

import msgpack

from sealpack import errors
from sealpack.session.ratchet import RatchetState
from sealpack.session.skipped import SkippedKeys

__all__ = ["decode_states", "encode_states"]

_VERSION = 3
_READABLE = (2, 3)
_FIELDS = (
    "session_id",
    "initiator_ik",
    "responder_ik",
    "is_initiator",
    "root_key",
    "dhs",
    "dhs_public",
    "dhr",
    "cks",
    "ckr",
    "ns",
    "nr",
    "pn",
    "start_secret",
    "created",
    "last_received",
)


def _encode_one(state: RatchetState) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(state, name) for name in _FIELDS}
    out["skipped"] = [[k[0], k[1], v[0], v[1]] for k, v in state.skipped.keys.items()]
    out["chains"] = [[k, r[0], r[1]] for k, r in state.skipped.chains.items()]
    out["held"] = [[k[0], k[1], v] for k, v in state.skipped.held.items()]
    if state.retired:
        out["retired"] = True
    return out


def _decode_one(item: dict[str, Any]) -> RatchetState:
    skipped = SkippedKeys(
        {(bytes(e[0]), int(e[1])): (bytes(e[2]), int(e[3])) for e in item["skipped"]},
        {bytes(e[0]): (int(e[1]), None if e[2] is None else int(e[2])) for e in item["chains"]},
        {(bytes(e[0]), int(e[1])): bytes(e[2]) for e in item["held"]},
    )
    retired = item.get("retired", False)
    if not isinstance(retired, bool):
        raise TypeError("retired")
    state = RatchetState(**{name: item[name] for name in _FIELDS}, skipped=skipped, retired=retired)
    for name in ("session_id", "initiator_ik", "responder_ik", "root_key", "dhs"):
        if not isinstance(getattr(state, name), bytes):
            raise TypeError(name)
    if state.dhs_public is None and (state.dhr is None or state.cks is not None):
        raise ValueError("dhs_public")  # only a pending sending half has no public key
    return state


def encode_states(states: list[RatchetState]) -> bytes:
    """The plaintext of a session file."""
    packed = msgpack.packb({"v": _VERSION, "sessions": [_encode_one(s) for s in states]})
    return bytes(packed)


def decode_states(data: bytes) -> list[RatchetState]:
    """Parse the plaintext of a session file (authenticated before this runs).

    Raises:
        KeyStoreError: the plaintext does not hold session states of version 2 or 3.
    """
    try:
        document = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if document["v"] not in _READABLE:
            raise ValueError("version")
        return [_decode_one(item) for item in document["sessions"]]
    except Exception as error:  # any malformation is one store error
        raise errors.KeyStoreError(f"session state is malformed ({type(error).__name__})") from None
