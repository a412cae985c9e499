"""The stanza directory (envelope.md section 4): hostile input, look-up, and the signature
that still covers every recipient's stanza although each recipient decodes only its own."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import directory, opener, sealer, suite
from sealpack.envelope import header as hdr
from sealpack.keys import Identity, MemoryReplayGuard
from tests.envelope.test_header import CLASSICAL_STANZA, GOOD_STANZA

LIMIT = hdr.EnvelopeLimits().max_recipients


def _stanza(kid: bytes, **changes: Any) -> dict[str, Any]:
    return {**GOOD_STANZA, "recipient": kid, **changes}


def _kid(i: int) -> bytes:
    return i.to_bytes(16, "big")


def _section(records: list[dict[str, Any]]) -> bytes:
    encoded = [msgpack.packb(r, use_bin_type=True) for r in records]
    return directory.frame_stanzas([r["recipient"] for r in records], encoded)


def _raw(count: int, ids: bytes, lengths: list[int], bodies: bytes) -> bytes:
    return struct.pack(">I", count) + ids + struct.pack(f">{len(lengths)}I", *lengths) + bodies


def test_layout_is_count_ids_lengths_then_stanzas() -> None:
    records = [
        _stanza(_kid(1)),
        _stanza(_kid(2), **{k: CLASSICAL_STANZA[k] for k in ("pqpk", "kem_ct")}),
    ]
    encoded = [msgpack.packb(r, use_bin_type=True) for r in records]
    section = _section(records)
    assert section == _raw(2, _kid(1) + _kid(2), [len(e) for e in encoded], b"".join(encoded))
    found = directory.read_directory(section, LIMIT)
    assert found.count == 2
    assert found.stanza_for(_kid(2)) == found.all()[1]
    assert found.stanza_for(_kid(2)).hybrid is False  # type: ignore[union-attr]
    assert found.stanza_for(_kid(3)) is None
    assert found.stanza_for(b"short") is None


@given(st.data())
def test_truncation_and_extension_are_tampering(data: st.DataObject) -> None:
    section = _section([_stanza(_kid(i)) for i in range(3)])
    cut = data.draw(st.integers(0, len(section) - 1))
    with pytest.raises(errors.TamperedError):
        directory.read_directory(section[:cut], LIMIT)
    with pytest.raises(errors.TamperedError):
        directory.read_directory(section + data.draw(st.binary(min_size=1, max_size=8)), LIMIT)


@given(st.data())
def test_bit_flips_in_a_section_only_raise_sealpack_errors(data: st.DataObject) -> None:
    section = bytearray(_section([_stanza(_kid(i)) for i in range(3)]))
    for _ in range(data.draw(st.integers(1, 4))):
        section[data.draw(st.integers(0, len(section) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    try:
        found = directory.read_directory(bytes(section), LIMIT)
        for i in range(3):
            found.stanza_for(_kid(i))
        found.all()
    except (errors.TamperedError, errors.LimitExceededError):
        pass


@pytest.mark.parametrize("count", [LIMIT + 1, 2**32 - 1])
def test_count_over_the_limit_is_refused_before_anything_else(count: int) -> None:
    """A count over max_recipients is LimitExceededError even with no bytes behind it."""
    with pytest.raises(errors.LimitExceededError, match="more than 4096 recipients"):
        directory.read_directory(struct.pack(">I", count), LIMIT)


def test_count_zero_or_more_entries_than_bytes_is_tampering() -> None:
    body = msgpack.packb(_stanza(_kid(1)), use_bin_type=True)
    for section in (
        struct.pack(">I", 0),
        _raw(0, b"", [], b""),
        _raw(2, _kid(1), [len(body)], body),  # claims 2, carries a table for 1
        b"\x00\x00\x01",
    ):
        with pytest.raises(errors.TamperedError):
            directory.read_directory(section, LIMIT)


def test_lengths_out_of_range_or_not_adding_up_are_tampering() -> None:
    bodies = [msgpack.packb(_stanza(_kid(i)), use_bin_type=True) for i in (1, 2)]
    ids, n1, n2 = _kid(1) + _kid(2), len(bodies[0]), len(bodies[1])
    joined = b"".join(bodies)
    for lengths in (
        [0, n1 + n2],  # an empty stanza
        [n1 + n2, 0],
        [2**32 - 1, n2],  # huge length
        [directory.MAX_STANZA_SIZE + 1, n1 + n2 - directory.MAX_STANZA_SIZE - 1],
        [n1, n2 - 1],  # sum short of the bodies
        [n1, n2 + 1],  # sum past the bodies
    ):
        with pytest.raises(errors.TamperedError):
            directory.read_directory(_raw(2, ids, lengths, joined), LIMIT)


def test_lengths_of_a_large_directory_are_checked_the_same_way() -> None:
    """Over 32 stanzas the lengths are checked with numpy: same refusals, same offsets."""
    bodies = [msgpack.packb(_stanza(_kid(i)), use_bin_type=True) for i in range(40)]
    ids, joined, good = (
        b"".join(_kid(i) for i in range(40)),
        b"".join(bodies),
        [len(b) for b in bodies],
    )
    found = directory.read_directory(_raw(40, ids, good, joined), LIMIT)
    assert found.stanza_for(_kid(39)) == found.all()[39]
    assert found.stanza_for(_kid(39)).recipient_key_id == _kid(39)  # type: ignore[union-attr]
    for change in ({0: 0}, {5: 2**32 - 1}, {7: directory.MAX_STANZA_SIZE + 1}, {39: good[39] - 1}):
        lengths = [change.get(i, n) for i, n in enumerate(good)]
        with pytest.raises(errors.TamperedError):
            directory.read_directory(_raw(40, ids, lengths, joined), LIMIT)


def test_overlapping_stanza_boundaries_fail_when_decoded() -> None:
    """Lengths that add up but move a boundary: each stanza then holds a piece of the
    other, and decoding either one is tampering (msgpack trailing or missing bytes)."""
    bodies = [msgpack.packb(_stanza(_kid(i)), use_bin_type=True) for i in (1, 2)]
    n1, n2 = len(bodies[0]), len(bodies[1])
    for shift in (-5, 5):
        section = _raw(2, _kid(1) + _kid(2), [n1 + shift, n2 - shift], b"".join(bodies))
        found = directory.read_directory(section, LIMIT)  # structure alone is consistent
        for kid in (_kid(1), _kid(2)):
            with pytest.raises(errors.TamperedError):
                found.stanza_for(kid)


@pytest.mark.parametrize("count", [2, 40, 300])
def test_duplicate_ids_are_tampering(count: int) -> None:
    """Both distinctness paths (a set for small directories, numpy above 32 ids)."""
    records = [_stanza(_kid(i)) for i in range(count)]
    assert directory.read_directory(_section(records), LIMIT).count == count
    records[-1] = _stanza(_kid(0))
    with pytest.raises(errors.TamperedError):
        directory.read_directory(_section(records), LIMIT)


def test_ids_sharing_their_first_eight_bytes_are_still_distinct() -> None:
    """The numpy fast path compares 8-byte prefixes; equal prefixes fall back to all 16."""
    records = [_stanza(bytes(8) + _kid(i)[8:]) for i in range(40)]
    assert directory.read_directory(_section(records), LIMIT).count == 40
    records.append(_stanza(bytes(8) + _kid(3)[8:]))
    with pytest.raises(errors.TamperedError):
        directory.read_directory(_section(records), LIMIT)


def test_an_id_found_at_an_unaligned_position_does_not_count() -> None:
    """My key id straddling two other ids is not my entry; an aligned one later is."""
    mine = bytes(range(100, 116))
    straddling = [b"\xee" * 8 + mine[:8], mine[8:] + b"\xdd" * 8]
    records = [_stanza(kid) for kid in straddling]
    found = directory.read_directory(_section(records), LIMIT)
    assert b"".join(straddling).find(mine) == 8
    assert found.index_of(mine) is None and found.stanza_for(mine) is None
    found = directory.read_directory(_section([*records, _stanza(mine)]), LIMIT)
    assert found.index_of(mine) == 2
    assert found.stanza_for(mine) == found.all()[2]


def test_stanza_recipient_must_match_its_directory_entry() -> None:
    records = [_stanza(_kid(1)), _stanza(_kid(2))]
    encoded = [msgpack.packb(r, use_bin_type=True) for r in records]
    section = directory.frame_stanzas([_kid(2), _kid(1)], encoded)  # ids swapped
    found = directory.read_directory(section, LIMIT)
    with pytest.raises(errors.TamperedError):
        found.stanza_for(_kid(1))
    with pytest.raises(errors.TamperedError):
        found.all()


def test_only_the_asked_stanza_is_decoded() -> None:
    """Another recipient's malformed stanza does not stop me; asking for it does."""
    records: list[Any] = [_stanza(_kid(1), spk="not an int"), _stanza(_kid(2))]
    found = directory.read_directory(_section(records), LIMIT)
    assert found.stanza_for(_kid(2)) is not None
    with pytest.raises(errors.TamperedError):
        found.stanza_for(_kid(1))


def test_frame_stanzas_refuses_mismatched_input() -> None:
    with pytest.raises(ValueError):
        directory.frame_stanzas([_kid(1)], [])
    with pytest.raises(ValueError):
        directory.frame_stanzas([b"short"], [b"\x80"])


# --- the signature over B3(stanza section) -----------------------------------------

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def three() -> tuple[Identity, list[Identity], bytes]:
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW - 60)
    readers = [Identity.generate(n, one_time_prekeys=0, now=NOW - 60) for n in ("b", "c", "d")]
    blob = sealer.seal_bytes(
        [b"payload " * 100],
        sender=alice,
        recipients=[r.bundle() for r in readers],
        options=sealer.SealOptions(one_time_prekey=False),
        now=NOW,
    )
    return alice, readers, blob


def _open(blob: bytes, alice: Identity, reader: Identity) -> bytes:
    sender = opener.Sender("alice", alice.public_identity_key)
    reader.replay_guard = MemoryReplayGuard()  # the same blob is opened more than once
    plain, _ = opener.open_buffer(
        blob, recipient=reader, resolve_sender=lambda _: sender, options=opener.OpenOptions(now=NOW)
    )
    return bytes(plain)


def _stanza_span(blob: bytes, index: int) -> tuple[int, int]:
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    start = hdr.PREFIX_SIZE + len(header.core_bytes) + 4
    count = header.stanza_count
    lengths = struct.unpack_from(f">{count}I", blob, start + 4 + 16 * count)
    first = start + 4 + 20 * count + sum(lengths[:index])
    return first, first + lengths[index]


def _resign(blob: bytes, signer: Identity) -> bytes:
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    end = len(blob) - hdr.SIGNATURE_SIZE
    digest = suite.payload_digest(blob[len(header.header_bytes) : end])
    signature = signer._sign_envelope(suite.signed_message(header.header_bytes, digest))
    return blob[:end] + signature


@pytest.mark.parametrize("other", [0, 2])
def test_a_change_to_another_recipients_stanza_is_tampering(
    three: tuple[Identity, list[Identity], bytes], other: int
) -> None:
    alice, readers, blob = three
    assert _open(blob, alice, readers[1]) == b"payload " * 100
    start, end = _stanza_span(blob, other)
    section = _stanza_span(blob, 0)[0] - 4 - 20 * 3  # where the stanza section starts
    id_byte, length_byte = section + 4 + 16 * other + 7, section + 4 + 48 + 4 * other + 3
    for position in (start, (start + end) // 2, end - 1, id_byte, length_byte):
        changed = bytearray(blob)
        changed[position] ^= 0x01
        with pytest.raises(errors.TamperedError):
            _open(bytes(changed), alice, readers[1])


def test_the_signed_message_stays_small_and_commits_to_the_section(
    three: tuple[Identity, list[Identity], bytes],
) -> None:
    _, _, blob = three
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    message = suite.signed_message(header.header_bytes, bytes(32))
    prefix = header.header_bytes[: hdr.PREFIX_SIZE + len(header.core_bytes) + 4]
    section = header.header_bytes[len(prefix) :]
    assert message == suite.SIGNATURE_LABEL + prefix + suite.stanza_section_digest(section) + bytes(
        32
    )
    assert len(message) < 512 < len(section)
    start, _ = _stanza_span(blob, 2)
    flipped = bytearray(header.header_bytes)
    flipped[start] ^= 1
    assert suite.signed_message(bytes(flipped), bytes(32)) != message


def test_a_sender_signed_malformed_stanza_only_stops_its_own_recipient(
    three: tuple[Identity, list[Identity], bytes],
) -> None:
    """Other stanzas are opaque to a recipient: a malformed one the sender signed leaves
    the others able to open, while its own recipient (and inspect) refuse it."""
    alice, readers, blob = three
    start, _ = _stanza_span(blob, 0)
    changed = bytearray(blob)
    changed[start] = 0xC1  # a msgpack byte that is never valid
    resigned = _resign(bytes(changed), alice)
    assert _open(resigned, alice, readers[1]) == b"payload " * 100
    with pytest.raises(errors.TamperedError):
        _open(resigned, alice, readers[0])
    with pytest.raises(errors.TamperedError):
        _ = hdr.parse_header(resigned, hdr.EnvelopeLimits()).stanzas


def test_a_mutable_blob_is_copied_an_immutable_one_is_viewed() -> None:
    """What the signature verifies cannot change afterwards: a header parsed from a
    bytearray is a copy; one parsed from bytes is a view (no copy of a large header)."""
    core = hdr.Core(bytes(32), bytes(16), 10, 20, "t", {}, 100, 1024)
    stanza = hdr.Stanza(_kid(7), 1, None, 1, bytes(32), bytes(1088), bytes(48))
    blob = hdr.encode_header(hdr.encode_core(core), [stanza])
    mutable = bytearray(blob)
    header = hdr.parse_header(mutable, hdr.EnvelopeLimits())
    mutable[len(blob) - 60 : len(blob)] = bytes(60)  # inside the stanza: ek, wrapped_key
    assert header.header_bytes == blob
    assert header.stanza_for(_kid(7)) == stanza
    viewed = hdr.parse_header(blob, hdr.EnvelopeLimits())
    assert viewed.header_view.obj is blob and viewed.header_bytes is blob
