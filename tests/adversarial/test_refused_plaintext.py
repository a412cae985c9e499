"""Nothing of a refused blob's plaintext stays reachable or reaches the application.

From an audit of the "no partial plaintext" rule (stop 12); each test failed on the
commit before its fix.
"""

from __future__ import annotations

import gc
import os
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sealpack
from sealpack import Codec, errors, fobs
from sealpack.exchange import DirectoryTransport, Peer
from sealpack.serialization.decoder import Decoder
from sealpack.session import Session
from sealpack.session.start import START_KEY
from sealpack.session.storage import MemoryStorage
from tests.envelope.conftest import NOW, identity

SECRET = "PATIENT-MRN-0042-SECRET"


def _decoders_holding(mark: bytes) -> list[Decoder]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Decoder) and mark in bytes(o._frame.body)]


@pytest.mark.parametrize("pad", [100, 1500, 5000])  # the pooled parse paths of every size
def test_the_parser_pools_keep_no_refused_plaintext(pad: int) -> None:
    """The pooled body hooks kept the last Decoder, whose frame is a view of the
    plaintext: a refused blob's plaintext (and an accepted model dropped by the caller,
    32 MiB in the audit) stayed reachable from module globals."""
    alice, bob = identity("alice", 2), identity("bob", 3)
    blob = sealpack.seal(
        {"mrn": SECRET, "pad": "x" * pad}, sender=alice, recipients=[bob.bundle()], now=NOW
    )
    with pytest.raises(errors.SchemaError):
        sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW, expect=list[int])
    assert _decoders_holding(SECRET.encode()) == []


def test_a_large_accepted_model_is_freed_with_its_last_reference() -> None:
    alice, bob = identity("alice", 2), identity("bob", 3)
    model = {"w": np.full(1 << 20, 7, dtype=np.float32)}
    blob = sealpack.seal(model, sender=alice, recipients=[bob.bundle()], now=NOW)
    opened = sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()], now=NOW)
    del opened
    assert _decoders_holding(b"") == []  # no decoder (nor the frame it views) outlives it


class Diagnosis(Enum):  # the sender's version of the type
    CODE = SECRET


SENDER_CLASS = Diagnosis


class Diagnosis(Enum):  # type: ignore[no-redef]  # the receiver's: same registry name
    OTHER = "other"


def test_a_decode_refusal_chains_no_plaintext() -> None:
    """The codec raised DecodeError ``from`` the original error, whose message held the
    sender's value (``'PATIENT-...' is not a valid Diagnosis``): any logged traceback
    printed the refused plaintext."""
    alice, bob = identity("alice", 2), identity("bob", 3)
    sender_codec, receiver_codec = Codec(), Codec()
    sender_codec.register_enum_types(SENDER_CLASS)
    receiver_codec.register_enum_types(Diagnosis)
    blob = sealpack.seal(
        {"d": SENDER_CLASS.CODE},
        sender=alice,
        recipients=[bob.bundle()],
        now=NOW,
        codec=sender_codec,
    )
    with pytest.raises(errors.DecodeError) as refused:
        sealpack.unseal(
            blob, recipient=bob, senders=[alice.bundle()], now=NOW, codec=receiver_codec
        )
    assert SECRET not in "".join(traceback.format_exception(refused.value))


SEEN: list[object] = []


class Record:
    def __init__(self, value: str) -> None:
        self.value = value


@pytest.fixture
def registered() -> Iterator[None]:
    """An application type whose deserializer records every value it is given."""
    fobs.register_serializer(Record)(lambda record: record.value)
    fobs.register_deserializer(Record)(lambda data: SEEN.append(data) or Record(data))
    SEEN.clear()
    yield
    fobs.reset()


def _party(name: str) -> sealpack.Identity:
    return sealpack.Identity.generate(name, one_time_prekeys=4)


@pytest.mark.usefixtures("registered")
def test_a_session_builds_nothing_of_a_blob_refused_by_expect() -> None:
    """Session.open_message unsealed without ``expect``, built the object (the app's
    deserializer ran on the plaintext), and only then checked ``expect``."""
    alice, bob = _party("alice"), _party("bob")
    blob = sealpack.seal({"r": Record(SECRET)}, sender=alice, recipients=[bob.bundle()])
    session = Session(bob, alice.bundle(), storage=MemoryStorage())
    with pytest.raises(errors.SchemaError):
        session.open_message(blob, expect=int)
    assert SEEN == []
    started = Session(alice, bob.bundle(), storage=MemoryStorage()).seal({"r": Record(SECRET)})
    with pytest.raises(errors.SchemaError, match=r"^\$: expected int"):  # paths from the object
        session.open_message(started, expect=int)
    assert SEEN == []


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("established", [False, True], ids=["sealed-start", "ratchet"])
def test_the_datasite_builds_nothing_of_a_message_refused_by_expect(
    tmp_path: Path, established: bool
) -> None:
    """The inbox opened sealed blobs and ratchet messages without ``expect`` and checked
    it on a re-encoding of the built object."""
    site = DirectoryTransport(tmp_path)
    alice = Peer("alice", site, _party("alice"))
    bob = Peer("bob", site, _party("bob"))
    if established:
        alice.send(1, to=["bob"])
        assert [m.obj for m in bob.receive()] == [1]
        bob.send(2, to=["alice"])
        assert [m.obj for m in alice.receive()] == [2]
    SEEN.clear()
    alice.send({"r": Record(SECRET)}, to=["bob"])
    assert bob.receive(expect=int) == []
    assert [r.reason for r in bob.quarantined()] == ["malformed"]
    assert SEEN == []


def _start_entry() -> dict[str, bytes]:
    return {"session_id": os.urandom(16), "secret": os.urandom(32), "ratchet_key": os.urandom(32)}


def _open_as_session(payload: object, expect: object, codec: Codec | None = None) -> object:
    alice, bob = _party("alice"), _party("bob")
    blob = sealpack.seal(payload, sender=alice, recipients=[bob.bundle()], codec=codec)
    return Session(bob, alice.bundle(), storage=MemoryStorage()).open(blob, expect=expect)


def test_a_start_in_another_mapping_is_the_object_itself_never_unwrapped() -> None:
    """Bypass found in review: an OrderedDict holding START_KEY was checked as the plain
    object (an ext, so expect=OrderedDict matched) and then unwrapped as a start: the
    application received the unchecked message (5). Only a plain dict is a start now."""
    payload = OrderedDict([(START_KEY, _start_entry()), ("message", 5)])
    assert _open_as_session(payload, OrderedDict[str, object]) == payload
    with pytest.raises(errors.SchemaError):
        _open_as_session(payload, int)


def test_a_start_key_sent_out_of_band_is_refused_with_expect() -> None:
    """Bypass found in review: START_KEY sent out of band was an unbuilt key for the check
    (the plain branch: expect=dict matched) and the str START_KEY once built (unwrapped:
    the application got 5). A dict with an out-of-band key is checked as the wrapper,
    which refuses such keys (fail closed; without expect= it opens as before)."""
    payload = {START_KEY: _start_entry(), "message": 5}
    codec = Codec(oob_threshold=16)  # START_KEY (25 characters) goes out of band
    with pytest.raises(errors.SchemaError, match="expected a session start"):
        _open_as_session(payload, dict, codec)
    with pytest.raises(errors.SchemaError):
        _open_as_session(payload, int, codec)


@pytest.mark.usefixtures("registered")
def test_a_malformed_start_is_refused_before_its_message_is_built() -> None:
    payload = {START_KEY: {"bogus": b""}, "message": Record(SECRET)}
    with pytest.raises(errors.SchemaError, match="unexpected key"):
        _open_as_session(payload, Record)
    assert SEEN == []


def test_the_inbox_never_unwraps_a_start_it_did_not_check_as_one(tmp_path: Path) -> None:
    site = DirectoryTransport(tmp_path)
    alice, bob = Peer("alice", site, _party("alice")), Peer("bob", site, _party("bob"))
    payload = OrderedDict([(START_KEY, _start_entry()), ("message", 5)])
    alice.send(payload, to=["bob"], stream=True)
    assert [m.obj for m in bob.receive(expect=OrderedDict[str, object])] == [payload]


class StartKey(StrEnum):
    """A registered str enum whose member equals START_KEY once built."""

    KEY = START_KEY


def test_a_key_that_builds_to_the_start_key_is_refused_with_expect() -> None:
    """The same bypass through a registered StrEnum key (an unbuilt CUSTOM value for the
    check, equal to START_KEY once built): checked as a start, refused."""
    codec = Codec()
    codec.register_enum_types(StartKey)
    payload = {StartKey.KEY: _start_entry(), "message": 5}
    alice, bob = _party("alice"), _party("bob")
    blob = sealpack.seal(payload, sender=alice, recipients=[bob.bundle()], codec=codec)
    session = Session(bob, alice.bundle(), storage=MemoryStorage())
    with pytest.raises(errors.SchemaError):
        session.open(blob, expect=dict, codec=codec)


def test_keys_that_cannot_be_the_start_key_leave_a_dict_plain(tmp_path: Path) -> None:
    """Regression found in review: every unbuilt key made a dict a start, so an honest
    sparse matrix ``{(i, j): x}`` (many tuple keys) sealed with expect= was refused."""
    sparse = {(i, j): float(i * j) for i in range(80) for j in range(80)}
    nested = {((1, 2), 3): 1.0}
    for payload in (sparse, nested):
        assert _open_as_session(payload, dict[tuple[Any, ...], float]) == payload
    site = DirectoryTransport(tmp_path)
    alice, bob = Peer("alice", site, _party("alice")), Peer("bob", site, _party("bob"))
    alice.send(sparse, to=["bob"], stream=True)
    assert [m.obj for m in bob.receive(expect=dict[tuple[int, int], float])] == [sparse]
