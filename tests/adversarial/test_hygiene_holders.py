"""Secret hygiene of the objects around the keys: opened messages, typed-decoding
errors, session and agreement secrets, assertion diffs, key-file records.

Found by an audit of this stop; each test failed on the commit before its fix.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

import sealpack
from sealpack import errors, x3dh
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.keys import Identity, KeyStore, PrivateKeyExportError, store_files
from sealpack.keys.secret import export_raw
from sealpack.session import Session
from sealpack.session.ratchet import RatchetState
from sealpack.session.start import parse_start, start_of

MARK = "patient-MRN-0042-PLAINTEXT"
EXPORTS = [pickle.dumps, copy.copy, copy.deepcopy]


def _pair() -> tuple[Identity, Identity]:
    return (
        Identity.generate("alice", one_time_prekeys=2),
        Identity.generate("bob", one_time_prekeys=2),
    )


def _talking() -> tuple[Identity, Identity, Session, Session]:
    """alice and bob with a session established both ways."""
    alice, bob = _pair()
    sa, sb = Session(alice, bob.bundle()), Session(bob, alice.bundle())
    sb.open(sa.seal("start"))
    sa.open(sb.seal("answer"))
    return alice, bob, sa, sb


def _states(owner: Session, peer: Identity) -> list[RatchetState]:
    with owner._storage.transaction(peer.public_identity_key) as states:
        return list(states)


def test_an_opened_datasite_message_never_shows_its_plaintext(tmp_path: Path) -> None:
    """Message was a plain dataclass: any log line or traceback formatting it wrote the
    decrypted object out (and a ratchet message's encrypted metadata)."""
    site = DirectoryTransport(tmp_path)
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=2))
    alice.send({"record": MARK}, to=["bob"], metadata={"note": MARK})
    (message,) = bob.receive()
    assert message.obj == {"record": MARK} and message.metadata == {"note": MARK}
    assert MARK not in repr(message) + str(message) + f"{message}"
    assert "alice" in repr(message)


def test_an_opened_session_message_never_shows_its_plaintext() -> None:
    alice, bob = _pair()
    opened = Session(bob, alice.bundle()).open_message(
        Session(alice, bob.bundle()).seal({"record": MARK})
    )
    assert opened.obj == {"record": MARK}
    assert MARK not in repr(opened)


@pytest.mark.parametrize(
    "expect", [dict[str, Literal["train", "eval"]], dict[str, Literal[1, 2]]], ids=["str", "int"]
)
def test_a_typed_decoding_error_names_types_never_values(expect: object) -> None:
    alice, bob = _pair()
    blob = sealpack.seal({"mode": MARK}, sender=alice, recipients=[bob.bundle()])
    with pytest.raises(errors.SchemaError) as refused:
        sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()], expect=expect)
    assert MARK not in str(refused.value)
    assert "got a value of type str" in str(refused.value)


def test_no_plaintext_in_the_quarantine_reason_in_the_synced_folder(tmp_path: Path) -> None:
    """The datasite stores str(error) as the reason, in the synced (untrusted) folder."""
    site = DirectoryTransport(tmp_path / "datasites")
    alice = Peer("alice", site, Identity.generate("alice", one_time_prekeys=2))
    bob = Peer("bob", site, Identity.generate("bob", one_time_prekeys=2))
    alice.send({"mode": MARK}, to=["bob"])
    assert bob.receive(expect=dict[str, Literal["train", "eval"]]) == []
    reasons = list((tmp_path / "datasites").rglob("*.reason.json"))
    assert reasons and not [p for p in reasons if MARK in p.read_text()]


def _refused(attempt: Callable[[object], object], holder: object) -> None:
    with pytest.raises(PrivateKeyExportError):
        attempt(holder)


@pytest.mark.parametrize("attempt", EXPORTS, ids=["pickle", "copy", "deepcopy"])
def test_session_and_agreement_secrets_refuse_export(attempt: Callable[[object], object]) -> None:
    """SkippedKeys (kept message keys), StartSecret (the session start secret) and
    X3DHResult (SK) pickled and copied freely; the states holding them did not."""
    alice, _bob, sa, sb = _talking()
    _m1, _m2, m3 = sa.seal(1), sa.seal(2), sa.seal(3)
    assert sb.open(m3) == 3  # bob keeps the message keys of the two skipped ones
    (state,) = _states(sb, alice)
    assert state.skipped.keys
    _refused(attempt, state.skipped)
    carol = Identity.generate("carol", one_time_prekeys=1)
    starter = Session(alice, carol.bundle())
    starter.seal("start")
    (started,) = _states(starter, carol)
    start = start_of(started)
    assert parse_start(start.to_payload(None)) is not None
    _refused(attempt, start)
    fresh = Identity.generate("dave", one_time_prekeys=1).bundle()
    _refused(attempt, x3dh.initiate(alice, fresh, one_time_prekey_id=1, pq_prekey_id=1))


def _diff(left: object, right: object) -> str:
    try:
        assert left == right
    except AssertionError as error:
        return str(error)
    return ""


def test_a_failed_equality_in_a_test_never_prints_keys() -> None:
    """pytest drills into the fields of dataclasses that differ: root and chain keys
    of a ratchet state, the X3DH shared key."""
    alice, bob, sa, _sb = _talking()
    (state,) = _states(sa, bob)
    other = state.copy()
    other.root_key = bytes(32)
    assert state.root_key.hex()[:16] not in _diff(state, other).replace("\\x", "")
    assert repr(state.root_key)[2:40] not in _diff(state, other)
    fresh = Identity.generate("dave", one_time_prekeys=2).bundle()
    first = x3dh.initiate(alice, fresh, one_time_prekey_id=1, pq_prekey_id=1)
    second = x3dh.initiate(alice, fresh, one_time_prekey_id=2, pq_prekey_id=1)
    assert repr(first.shared_key)[2:40] not in _diff(first, second)


def test_the_key_file_record_never_shows_private_keys(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unencrypted store
        identity = Identity.generate("u", one_time_prekeys=1)
        KeyStore.create(tmp_path / "s", identity, passphrase=None, unencrypted=True).close()
        loaded = store_files.read_keyfile(tmp_path / "s", None)
    assert export_raw(identity._state.seed).hex() not in repr(loaded)
