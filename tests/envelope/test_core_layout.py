"""The fast core and stanza readers (envelope.core_layout) agree with the general path.

On every core (no metadata) and stanza sealpack writes they return the same Core or
Stanza; on anything else, and on every mutation of a valid one, they either hand over
(None) or return exactly what the general path returns, and never accept what it
refuses.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpack import errors
from sealpack.envelope import header as hdr
from sealpack.envelope.core_layout import read_core, read_stanza
from sealpack.envelope.directory import _decode_stanza
from sealpack.envelope.header_fields import core_section_limits, parse_core, parse_stanza
from sealpack.envelope.sections import unpack_section

LIMITS = hdr.EnvelopeLimits()

cores = st.builds(
    hdr.Core,
    sender_key=st.binary(min_size=32, max_size=32),
    message_id=st.binary(min_size=16, max_size=16),
    created=st.integers(0, 2**40 - 1),
    expires=st.integers(0, 2**40 - 1),
    content_type=st.text(max_size=90).filter(lambda text: len(text.encode()) <= 255),
    metadata=st.just({}),
    size=st.integers(0, 2**64 - 1),
    chunk_size=st.sampled_from([0, 3, 1 << 9, 1 << 10, 1 << 20, 1 << 24, 1 << 25, 2**63]),
)


def _general(core_bytes: bytes, limits: hdr.EnvelopeLimits = LIMITS) -> object:
    """The walker's Core, or the type of the error it raises."""
    try:
        return parse_core(unpack_section(core_bytes, core_section_limits(limits)), limits)
    except errors.SealpackError as error:
        return type(error)


def _fast(core_bytes: bytes, limits: hdr.EnvelopeLimits = LIMITS) -> object:
    try:
        return read_core(core_bytes, limits)
    except errors.SealpackError as error:
        return type(error)


def _agree(core_bytes: bytes, limits: hdr.EnvelopeLimits = LIMITS) -> object:
    fast, general = _fast(core_bytes, limits), _general(core_bytes, limits)
    assert fast is None or fast == general, (core_bytes.hex(), fast, general)
    return fast


@settings(max_examples=150, deadline=None)
@given(cores)
def test_every_core_sealpack_writes_reads_as_the_walker_reads_it(core: hdr.Core) -> None:
    core_bytes = hdr.encode_core(core)
    fast = _agree(core_bytes)
    general = _general(core_bytes)
    assert fast is not None or general is errors.TamperedError  # only bounds hand over
    if isinstance(general, hdr.Core):
        assert fast == general == core


@settings(max_examples=150, deadline=None)
@given(cores, st.data())
def test_mutated_cores_are_refused_or_handed_over_exactly_like_the_walker(
    core: hdr.Core, data: st.DataObject
) -> None:
    core_bytes = bytearray(hdr.encode_core(core))
    position = data.draw(st.integers(0, len(core_bytes) - 1))
    kind = data.draw(st.sampled_from(["replace", "truncate", "extend", "insert", "delete"]))
    byte = data.draw(st.integers(0, 255))
    if kind == "replace":
        core_bytes[position] = byte
    elif kind == "truncate":
        del core_bytes[position:]
    elif kind == "extend":
        core_bytes.append(byte)
    elif kind == "insert":
        core_bytes.insert(position, byte)
    else:
        del core_bytes[position]
    _agree(bytes(core_bytes))


def _valid() -> hdr.Core:
    return hdr.Core(b"s" * 32, b"m" * 16, 100, 200, "application/x", {}, 1024, 1 << 20)


def test_other_encodings_of_valid_values_go_to_the_walker() -> None:
    fields = dict(zip(hdr.CORE_KEYS, vars(_valid()).values(), strict=True))
    fields["metadata"] = {"round": 3}
    with_metadata = msgpack.packb(fields, use_bin_type=True)
    assert read_core(with_metadata, LIMITS) is None
    assert isinstance(_general(with_metadata), hdr.Core)
    fields["metadata"] = {}
    plain = msgpack.packb(fields, use_bin_type=True)
    assert read_core(plain, LIMITS) == _general(plain)
    signed_created = plain.replace(b"\xa7created\x64", b"\xa7created\xd0\x64")  # int8 100
    assert read_core(signed_created, LIMITS) is None
    assert _general(signed_created) == _valid()
    bin16_sender = plain.replace(b"\xc4\x20", b"\xc5\x00\x20", 1)
    assert read_core(bin16_sender, LIMITS) is None
    assert _general(bin16_sender) == _valid()


def test_tight_metadata_limits_go_to_the_walker_which_refuses() -> None:
    core_bytes = hdr.encode_core(_valid())
    for limits in (
        hdr.EnvelopeLimits(max_metadata_depth=-1),
        hdr.EnvelopeLimits(max_metadata_size=0),
    ):
        assert read_core(core_bytes, limits) is None
        with pytest.raises(errors.LimitExceededError):
            parse_core(unpack_section(core_bytes, core_section_limits(limits)), limits)


def test_payload_bounds_raise_the_walkers_error_from_the_fast_path() -> None:
    core_bytes = hdr.encode_core(_valid())
    tight = hdr.EnvelopeLimits(max_payload_size=1000)
    assert _fast(core_bytes, tight) is _general(core_bytes, tight) is errors.LimitExceededError
    odd = hdr.encode_core(hdr.Core(b"s" * 32, b"m" * 16, 1, 2, "", {}, 5, 3 << 10))
    assert _fast(odd) is _general(odd) is errors.LimitExceededError


def test_bad_utf8_and_out_of_range_values_are_not_accepted_by_the_fast_path() -> None:
    plain = hdr.encode_core(_valid())
    bad_text = plain.replace(b"application/x", b"application/\xff")
    assert read_core(bad_text, LIMITS) is None and _general(bad_text) is errors.TamperedError
    backwards = hdr.encode_core(hdr.Core(b"s" * 32, b"m" * 16, 9, 8, "", {}, 5, 1 << 10))
    assert read_core(backwards, LIMITS) is None
    assert _general(backwards) is errors.TamperedError


ids = st.none() | st.integers(0, 2**33)
stanzas = st.builds(
    hdr.Stanza,
    recipient_key_id=st.binary(min_size=16, max_size=16),
    signed_prekey_id=st.integers(0, 2**33),
    one_time_prekey_id=ids,
    pq_prekey_id=ids,
    ephemeral_key=st.binary(min_size=32, max_size=32),
    kem_ciphertext=st.none() | st.just(bytes(range(256)) * 4 + bytes(64)),
    wrapped_key=st.binary(min_size=48, max_size=48),
)


def _stanza_general(raw: bytes) -> object:
    try:
        return parse_stanza(_decode_stanza(raw))
    except errors.SealpackError as error:
        return type(error)


def _stanza_agree(raw: bytes) -> object:
    fast, general = read_stanza(raw), _stanza_general(raw)
    assert fast is None or fast == general, (raw[:40].hex(), fast, general)
    return fast


@settings(max_examples=150, deadline=None)
@given(stanzas)
def test_every_stanza_sealpack_writes_reads_as_msgpack_and_parse_stanza_read_it(
    stanza: hdr.Stanza,
) -> None:
    raw = hdr.encode_stanza(stanza)
    fast, general = _stanza_agree(raw), _stanza_general(raw)
    if isinstance(general, hdr.Stanza):
        assert fast == general == stanza
    else:
        assert fast is None and general is errors.TamperedError


@settings(max_examples=150, deadline=None)
@given(stanzas, st.data())
def test_mutated_stanzas_are_refused_or_handed_over_exactly_like_the_walker(
    stanza: hdr.Stanza, data: st.DataObject
) -> None:
    raw = bytearray(hdr.encode_stanza(stanza))
    position = data.draw(st.integers(0, len(raw) - 1))
    byte = data.draw(st.integers(0, 255))
    kind = data.draw(st.sampled_from(["replace", "truncate", "extend", "insert", "delete"]))
    if kind == "replace":
        raw[position] = byte
    elif kind == "truncate":
        del raw[position:]
    elif kind == "extend":
        raw.append(byte)
    elif kind == "insert":
        raw.insert(position, byte)
    else:
        del raw[position]
    _stanza_agree(bytes(raw))


def test_stanza_fields_out_of_bounds_or_mismatched_go_to_the_walker() -> None:
    good = hdr.Stanza(b"r" * 16, 1, None, 2, b"e" * 32, bytes(1088), b"w" * 48)
    assert read_stanza(hdr.encode_stanza(good)) == good
    for bad in (
        hdr.Stanza(b"r" * 16, 2**32, None, 2, b"e" * 32, bytes(1088), b"w" * 48),
        hdr.Stanza(b"r" * 16, 1, 2**32, 2, b"e" * 32, bytes(1088), b"w" * 48),
        hdr.Stanza(b"r" * 16, 1, None, None, b"e" * 32, bytes(1088), b"w" * 48),
        hdr.Stanza(b"r" * 16, 1, None, 2, b"e" * 32, None, b"w" * 48),
    ):
        raw = hdr.encode_stanza(bad)
        assert read_stanza(raw) is None
        assert _stanza_general(raw) is errors.TamperedError
    classical = hdr.Stanza(b"r" * 16, 1, 7, None, b"e" * 32, None, b"w" * 48)
    assert read_stanza(hdr.encode_stanza(classical)) == classical
