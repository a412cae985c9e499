"""Hostile sealed blobs: every mutation is refused with a typed error, nothing escapes.

Covers unseal (in memory), unseal_from (stream), unseal_frame_to (file output) and
inspect. Field-level changes are also re-signed by the real sender, so the checks
behind the signature (context binding, lengths, prekey ids) are reached too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpack import api, errors
from sealpack.envelope import header as hdr
from sealpack.envelope import stream
from tests.adversarial.harness import reject, tolerate
from tests.adversarial.mutate import mutants
from tests.adversarial.samples import (
    NOW,
    SMALL_CHUNK,
    frame_header,
    raw_sections,
    sign_blob,
    split,
    world,
)

W = world()
PAYLOAD = {"w": bytes(range(256)) * 10, "round": 3}  # a ~2.7 KB frame: three 1 KiB chunks
BLOB = W.seal(PAYLOAD)
SMALL_BLOB = W.seal(b"tiny", W.bob)
HEADER_LEN = len(split(BLOB)[0].header_bytes)


def _open_stream(blob: bytes) -> Any:
    return api.unseal_from(io.BytesIO(blob), recipient=W.bob, senders=[W.alice.bundle()], now=NOW)


def test_the_samples_open() -> None:
    """Control: the unmutated samples open (so every rejection below is the mutation's)."""
    assert api.inspect(BLOB).recipients[0].one_time_prekey_id is None
    header, payload, _ = split(BLOB)
    assert len(header.stanzas) == 2 and len(payload) > 2 * SMALL_CHUNK
    fresh = W.seal(PAYLOAD)
    assert W.open(fresh) == PAYLOAD
    assert _open_stream(W.seal(PAYLOAD)) == PAYLOAD


def test_truncation_at_every_offset() -> None:
    for cut in range(len(BLOB)):
        reject(lambda cut=cut: W.open(BLOB[:cut]))
        reject(lambda cut=cut: _open_stream(BLOB[:cut]))
        if cut < HEADER_LEN:
            reject(lambda cut=cut: api.inspect(BLOB[:cut]))


def test_every_header_byte_changed() -> None:
    for position in range(HEADER_LEN):
        for mask in (0x01, 0x80, 0xFF):
            mutated = bytearray(BLOB)
            mutated[position] ^= mask
            reject(lambda m=bytes(mutated): W.open(m))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutants([BLOB, SMALL_BLOB]))
def test_mutated_blobs_are_refused(mutated: bytes) -> None:
    reject(lambda: W.open(mutated))
    reject(lambda: _open_stream(mutated))
    outcome = tolerate(lambda: api.inspect(mutated))
    if not isinstance(outcome, errors.SealpackError):
        assert outcome.verified is False  # type: ignore[attr-defined]


@settings(max_examples=20)
@given(mutants([SMALL_BLOB], max_mutations=2))
def test_failed_file_output_writes_nothing(tmp_path_factory: Any, mutated: bytes) -> None:
    folder: Path = tmp_path_factory.mktemp("out")
    source = folder / "in.sealed"
    source.write_bytes(mutated)
    destination = folder / "plain.frame"
    reject(
        lambda: api.unseal_frame_to(
            source, destination, recipient=W.bob, senders=[W.alice.bundle()], now=NOW
        )
    )
    assert sorted(p.name for p in folder.iterdir()) == ["in.sealed"]


def _chunks(blob: bytes) -> tuple[bytes, list[bytes], bytes]:
    header, payload, signature = split(blob)
    body = payload[stream.PREFIX_SIZE :]
    step = SMALL_CHUNK + stream.TAG_SIZE
    pieces = [body[i : i + step] for i in range(0, len(body), step)]
    return header.header_bytes + payload[: stream.PREFIX_SIZE], pieces, signature


@given(st.data())
def test_duplicated_swapped_dropped_chunks(data: st.DataObject) -> None:
    head, pieces, signature = _chunks(BLOB)
    order = data.draw(
        st.lists(st.integers(0, len(pieces) - 1), max_size=len(pieces) + 2).filter(
            lambda o: o != list(range(len(pieces)))
        )
    )
    body = b"".join(pieces[i] for i in order)
    reject(lambda: W.open(head + body + signature))
    # The same rearrangement re-signed by the sender: the chunk layer alone must refuse.
    resigned = sign_blob(head[:HEADER_LEN], head[HEADER_LEN:] + body, W.alice)
    reject(lambda: W.open(resigned), errors.TamperedError)


@pytest.mark.parametrize("version", [0, 1, 3, 127, 128, 255])
def test_unknown_versions(version: int) -> None:
    mutated = BLOB[:8] + bytes([version]) + BLOB[9:]
    for call in (lambda: W.open(mutated), lambda: _open_stream(mutated)):
        reject(call, errors.UnsupportedVersionError)
    reject(lambda: api.inspect(mutated), errors.UnsupportedVersionError)


# --- lengths and field-level changes --------------------------------------------

HOSTILE_VALUES: list[Any] = [
    0,
    1,
    -1,
    2**32 - 1,
    2**32,
    2**63 - 1,
    2**63,
    2**64 - 1,
    None,
    True,
    1.5,
    "",
    "x" * 300,
    b"",
    b"\x00" * 16,
    b"\xff" * 32,
    b"\x01" * 48,
    [],
    {},
    [1, 2],
    {"k": "v"},
]
CORE_FIELDS = hdr._CORE_KEYS
STANZA_FIELDS = hdr._STANZA_KEYS


def _resigned(core: Any, stanzas: Any, *, version: int = hdr.VERSION) -> bytes:
    """Reframe with changed sections, keep the payload, sign as the real sender."""
    _, payload, _ = split(BLOB)
    return sign_blob(frame_header(core, stanzas, version=version), payload, W.alice)


def _sections() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return raw_sections(split(BLOB)[0])


def test_resigning_unchanged_sections_opens() -> None:
    """Control: the re-signing path itself produces an openable blob."""
    core, stanzas = _sections()
    assert W.open(_resigned(core, stanzas), recipient=W.carol) == PAYLOAD


@pytest.mark.parametrize("field", CORE_FIELDS)
@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=repr)
def test_core_field_changes_even_when_resigned(field: str, value: Any) -> None:
    core, stanzas = _sections()
    if core[field] == value and type(core[field]) is type(value):
        pytest.skip("value equals the original")
    core[field] = value
    reject(lambda: W.open(_resigned(core, stanzas)))


@pytest.mark.parametrize("field", STANZA_FIELDS)
@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=repr)
def test_stanza_field_changes_even_when_resigned(field: str, value: Any) -> None:
    core, stanzas = _sections()
    mine = next(s for s in stanzas if s["recipient"] == W.bob.key_id)
    if mine[field] == value and type(mine[field]) is type(value):
        pytest.skip("value equals the original")
    mine[field] = value
    reject(lambda: W.open(_resigned(core, stanzas)))


def _structural_variants() -> list[tuple[str, Any, Any]]:
    core, stanzas = _sections()
    reordered = dict(reversed(list(core.items())))
    extra = {**core, "extra": 1}
    missing = {k: v for k, v in core.items() if k != "metadata"}
    bob_stanza = next(s for s in stanzas if s["recipient"] == W.bob.key_id)
    return [
        ("core reordered", reordered, stanzas),
        ("core extra key", extra, stanzas),
        ("core missing key", missing, stanzas),
        ("core is a list", list(core.values()), stanzas),
        ("no stanzas", core, []),
        ("stanzas is a map", core, {"a": 1}),
        ("duplicate stanza", core, [*stanzas, bob_stanza]),
        ("stanza reordered", core, [dict(reversed(list(bob_stanza.items())))]),
        ("stanza extra key", core, [{**bob_stanza, "x": 0}]),
        ("expires before created", {**core, "expires": core["created"] - 1}, stanzas),
        ("size off by one", {**core, "size": core["size"] + 1}, stanzas),
        ("size zero", {**core, "size": 0}, stanzas),
        ("size 2^40", {**core, "size": 2**40}, stanzas),
        ("chunk not a power of two", {**core, "chunk_size": 1000}, stanzas),
        ("chunk 2^63", {**core, "chunk_size": 2**63}, stanzas),
        ("deep metadata", {**core, "metadata": {"a": _nest(100)}}, stanzas),
    ]


def _nest(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "variant", _structural_variants(), ids=lambda v: v[0] if isinstance(v, tuple) else ""
)
def test_structural_changes_even_when_resigned(variant: tuple[str, Any, Any]) -> None:
    _, core, stanzas = variant
    reject(lambda: W.open(_resigned(core, stanzas)))
    reject(lambda: _open_stream(_resigned(core, stanzas)))


@pytest.mark.parametrize("core_len", [0, 1, 2**31, 2**32 - 1], ids=lambda n: f"core_len={n}")
@pytest.mark.parametrize("which", ["core", "stanzas"])
def test_section_lengths(core_len: int, which: str) -> None:
    header = split(BLOB)[0]
    offset = hdr.PREFIX_SIZE - 4 if which == "core" else hdr.PREFIX_SIZE + len(header.core_bytes)
    mutated = bytearray(BLOB)
    mutated[offset : offset + 4] = core_len.to_bytes(4, "big")
    reject(lambda: W.open(bytes(mutated)))
    reject(lambda: _open_stream(bytes(mutated)))


@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_prefix(rest: bytes) -> None:
    reject(lambda: W.open(hdr.MAGIC + b"\x01" + rest))
    reject(lambda: api.inspect(hdr.MAGIC + b"\x01" + rest[:40]))
