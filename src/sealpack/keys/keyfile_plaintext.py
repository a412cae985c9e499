"""The key file plaintext: the identity state and held one-time prekeys as JSON objects.

keys/keyfile.py wraps this plaintext in the outer document (and scrypt + AES-GCM); the
layout is keys.md section 6. Signatures are not stored: they are recomputed from the
seed. A version-1 plaintext (no PQ fields) is read as a classical state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from typing import Any, TypeVar

from sealpack import errors
from sealpack.keys.identity_state import IdentityState
from sealpack.keys.names import validate_name
from sealpack.keys.opening import OPK, PQ_OPK, HeldPrekeys
from sealpack.keys.prekeys import OneTimePrekey, PQOneTimePrekey, PQPrekey, SignedPrekey
from sealpack.keys.secret import Ed25519Seed, MLKEMSecret, X25519Secret, export_raw

__all__ = ["held_from_json", "held_to_json", "state_from_json", "state_to_json"]

_Timed = TypeVar("_Timed", SignedPrekey, PQPrekey)
_OneTime = TypeVar("_OneTime", OneTimePrekey, PQOneTimePrekey)
_PQ_FIELDS = ("current_pq_prekey_id", "next_pq_prekey_id", "pq_prekeys", "pq_one_time_prekeys")


def _ints(*values: Any) -> None:
    if not all(type(value) is int and 0 <= value < 2**63 for value in values):
        raise errors.KeyStoreError("key store content is corrupt")


def _timed_json(key: SignedPrekey | PQPrekey) -> dict[str, Any]:
    return {
        "id": key.id,
        "private": export_raw(key.secret).hex(),
        "created": key.created,
        "expires": key.expires,
        "retire_at": key.retire_at,
    }


def _one_time_json(keys: Iterable[OneTimePrekey | PQOneTimePrekey]) -> list[dict[str, Any]]:
    return [{"id": key.id, "private": export_raw(key.secret).hex()} for key in keys]


def state_to_json(state: IdentityState) -> dict[str, Any]:
    """The key file plaintext of version 2 (keys.md section 6); no signatures (recomputed)."""
    return {
        "name": state.name,
        "seed": export_raw(state.seed).hex(),
        "signed_prekey_lifetime": state.signed_prekey_lifetime,
        "current_signed_prekey_id": state.current_signed_prekey_id,
        "next_one_time_prekey_id": state.next_one_time_prekey_id,
        "signed_prekeys": [_timed_json(spk) for spk in state.signed_prekeys.values()],
        "one_time_prekeys": _one_time_json(state.one_time_prekeys.values()),
        "current_pq_prekey_id": state.current_pq_prekey_id,
        "next_pq_prekey_id": state.next_pq_prekey_id,
        "pq_prekeys": [_timed_json(pq) for pq in state.pq_prekeys.values()],
        "pq_one_time_prekeys": _one_time_json(state.pq_one_time_prekeys.values()),
    }


def _timed_from_json(
    items: Any, kind: type[_Timed], secret: Callable[[bytes], Any]
) -> dict[int, _Timed]:
    for item in items:
        _ints(item["id"], item["created"], item["expires"], item["retire_at"])
    return {
        item["id"]: kind(
            item["id"],
            secret(bytes.fromhex(item["private"])),
            created=item["created"],
            expires=item["expires"],
            retire_at=item["retire_at"],
        )
        for item in items
    }


def _one_time_from_json(
    items: Any, kind: type[_OneTime], secret: Callable[[bytes], Any], consumed: Set[int]
) -> dict[int, _OneTime]:
    return {
        item["id"]: kind(item["id"], secret(bytes.fromhex(item["private"])))
        for item in items
        if item["id"] not in consumed
    }


def _pq_from_json(keys: dict[str, Any], state: IdentityState, pq_consumed: Set[int]) -> None:
    """Fill the PQ part of ``state``; a version-1 plaintext (no PQ fields) stays classical."""
    present = [name in keys for name in _PQ_FIELDS]
    if not any(present):
        return
    if not all(present):
        raise errors.KeyStoreError("key store content is corrupt (partial PQ prekeys)")
    one_time = keys["pq_one_time_prekeys"]
    _ints(*(item["id"] for item in one_time))
    current = keys["current_pq_prekey_id"]
    _ints(keys["next_pq_prekey_id"], *(() if current is None else (current,)))
    state.pq_prekeys = _timed_from_json(keys["pq_prekeys"], PQPrekey, MLKEMSecret)
    if current is not None and current not in state.pq_prekeys:
        raise errors.KeyStoreError("key file has no current PQ prekey")
    state.current_pq_prekey_id = current
    state.next_pq_prekey_id = keys["next_pq_prekey_id"]
    state.pq_one_time_prekeys = _one_time_from_json(
        one_time, PQOneTimePrekey, MLKEMSecret, pq_consumed
    )


def state_from_json(
    keys: dict[str, Any], consumed: Set[int], pq_consumed: Set[int] = frozenset()
) -> IdentityState:
    """Rebuild the identity state from the key file plaintext.

    One-time prekeys in ``consumed`` / ``pq_consumed`` are dropped. A version-1
    plaintext (no PQ fields) gives a classical state: the migration then calls
    ``Identity.enable_post_quantum``. Stored signatures (version 1) are ignored.

    Raises:
        KeyStoreError: a field out of range, a bad name, or no current prekey.
        KeyError, TypeError, ValueError: a field missing or mistyped (the caller maps them).
    """
    one_time = keys["one_time_prekeys"]
    _ints(*(item["id"] for item in one_time))
    _ints(
        keys["current_signed_prekey_id"],
        keys["next_one_time_prekey_id"],
        keys["signed_prekey_lifetime"],
    )
    validate_name(keys["name"], errors.KeyStoreError)
    spks = _timed_from_json(keys["signed_prekeys"], SignedPrekey, X25519Secret)
    opks = _one_time_from_json(one_time, OneTimePrekey, X25519Secret, consumed)
    current = keys["current_signed_prekey_id"]
    if current not in spks:
        raise errors.KeyStoreError("key file has no current signed prekey")
    state = IdentityState(
        name=keys["name"],
        seed=Ed25519Seed(bytes.fromhex(keys["seed"])),
        signed_prekeys=spks,
        current_signed_prekey_id=current,
        one_time_prekeys=opks,
        next_one_time_prekey_id=keys["next_one_time_prekey_id"],
        signed_prekey_lifetime=keys["signed_prekey_lifetime"],
    )
    _pq_from_json(keys, state, pq_consumed)
    return state


def held_to_json(held: HeldPrekeys) -> list[dict[str, Any]]:
    """The ``held_one_time_prekeys`` list: kind (0 X25519, 1 ML-KEM), id, private key."""
    return [
        {"kind": kind, "id": prekey_id, "private": export_raw(key.secret).hex()}
        for (kind, prekey_id), key in sorted(held.items())
    ]


def held_from_json(items: list[dict[str, Any]]) -> HeldPrekeys:
    """Parse the ``held_one_time_prekeys`` list (KeyStoreError on an unknown kind)."""
    held: HeldPrekeys = {}
    for item in items:
        kind, prekey_id, raw = item["kind"], item["id"], bytes.fromhex(item["private"])
        _ints(kind, prekey_id)
        if kind == OPK:
            held[(OPK, prekey_id)] = OneTimePrekey(prekey_id, X25519Secret(raw))
        elif kind == PQ_OPK:
            held[(PQ_OPK, prekey_id)] = PQOneTimePrekey(prekey_id, MLKEMSecret(raw))
        else:
            raise errors.KeyStoreError("key store content is corrupt (held prekey kind)")
    return held
