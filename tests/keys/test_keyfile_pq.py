"""The key file plaintext of version 2 (keys/keyfile_plaintext.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sealpack import errors, primitives
from sealpack.keys import Identity
from sealpack.keys.keyfile_plaintext import state_from_json, state_to_json

NOW = 1_700_000_000


def _plaintext(identity: Identity) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(state_to_json(identity._state)))
    return result


def test_pq_prekeys_round_trip_as_64_byte_seeds() -> None:
    identity = Identity.generate("zed", one_time_prekeys=2, pq_one_time_prekeys=3, now=NOW)
    identity.rotate_signed_prekey(grace_period=1000, now=NOW + 1)
    keys = _plaintext(identity)
    assert keys["current_pq_prekey_id"] == 5 and keys["next_pq_prekey_id"] == 6
    assert all(len(bytes.fromhex(item["private"])) == 64 for item in keys["pq_prekeys"])
    assert all(len(bytes.fromhex(i["private"])) == 64 for i in keys["pq_one_time_prekeys"])
    assert "signature" not in json.dumps(keys)  # signatures are recomputed, not stored
    again = Identity(state_from_json(keys, set(), {3}))
    assert again.bundle().pq_prekey == identity.bundle().pq_prekey
    assert again.pq_one_time_prekey_ids() == [2, 4]
    assert sorted(again._state.pq_prekeys) == [1, 5]
    expected = identity.bundle().with_one_time_prekeys([1, 2], pq_ids=[2, 4])
    assert again.bundle() == expected
    seed = bytes.fromhex(keys["pq_prekeys"][0]["private"])
    assert again._state.pq_prekeys[1].secret.public == primitives.mlkem768_public_from_seed(seed)


def test_version_1_plaintext_gives_a_classical_state_to_migrate() -> None:
    identity = Identity.generate("zed", one_time_prekeys=1, post_quantum=False, now=NOW)
    keys = _plaintext(identity)
    for name in ("current_pq_prekey_id", "next_pq_prekey_id", "pq_prekeys", "pq_one_time_prekeys"):
        del keys[name]
    for spk in keys["signed_prekeys"]:
        spk["signature"] = "00" * 64  # version 1 stored the (old-encoding) signature
    migrated = Identity(state_from_json(keys, set()))
    assert not migrated.post_quantum
    assert migrated.bundle() == identity.bundle()
    migrated.enable_post_quantum(now=NOW)
    assert migrated.bundle().pq_prekey is not None


def test_partial_pq_fields_are_corrupt() -> None:
    keys = _plaintext(Identity.generate("zed", one_time_prekeys=0, now=NOW))
    del keys["pq_prekeys"]
    with pytest.raises(errors.KeyStoreError):
        state_from_json(keys, set())
    keys = _plaintext(Identity.generate("zed", one_time_prekeys=0, now=NOW))
    keys["current_pq_prekey_id"] = 9
    with pytest.raises(errors.KeyStoreError):
        state_from_json(keys, set())
