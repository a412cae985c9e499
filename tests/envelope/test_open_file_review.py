"""Opening a file: honest blobs of many small chunks open in place on two threads, and a
short file claiming a huge payload is tampering before anything is allocated (review of
the envelope opener; each test fails on the code before its fix)."""

from __future__ import annotations

import io
import os

import pytest

from sealpack.envelope import files, inplace, opener, parallel, sealer, stream
from sealpack.keys import Identity
from tests.envelope.conftest import NOW, identity, resolver

# --- in-place decryption on two threads never overwrites unread ciphertext ---------------


@pytest.fixture
def _two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a 2-core machine with cryptography >= 50 does by default."""
    monkeypatch.setattr(parallel.pipeline, "GIL_RELEASED", True)
    monkeypatch.setenv("SEALPACK_THREADS", "2")


@pytest.mark.usefixtures("_two_threads")
@pytest.mark.parametrize("chunks", [124, 300])
def test_inplace_two_threads_opens_an_honest_payload_of_many_chunks(chunks: int) -> None:
    """Chunk j's plaintext lands at j*C, its ciphertext at 56 + j*(C+16): the plaintext
    drifts 16 bytes per chunk below the ciphertext. The second range writes chunk lo+1's
    plaintext at (lo+1)*C while the first range has still to read ciphertext up to
    56 + lo*(C+16); they overlap as soon as C < 56 + 16*lo. With C = 1 KiB that is
    about 124 chunks (~127 KiB); with sealpack's 1 MiB chunks, payloads over ~128 GiB;
    with C2SP's 16 KiB chunks, over ~32 MiB."""
    chunk = 1024
    key = bytes(range(32))
    data = os.urandom(chunks * chunk + 7)
    blob = stream.encrypt(key, data, context=b"ctx", chunk_size=chunk)
    payload = inplace.read_payload(io.BytesIO(blob), len(blob))
    decryptor = stream.ChunkDecryptor(key, bytes(payload[:56]), context=b"ctx", chunk_size=chunk)
    assert inplace.decrypt_in_place(decryptor, payload, len(data), workers=2) == data


@pytest.mark.usefixtures("_two_threads")
def test_unseal_from_file_opens_an_honest_blob_that_unseal_opens() -> None:
    """End to end: an honest, signed blob (chunk size 1024, allowed by envelope.md
    section 3) opens from memory but is refused as TamperedError from a file, the path
    the datasite inbox uses (exchange/inbox.py: api.unseal_from)."""
    alice: Identity = identity("alice", 2)
    bob: Identity = identity("bob", 3)
    plain = os.urandom(200 * 1024)
    blob = bytes(
        sealer.seal_buffers(
            [plain],
            sender=alice,
            recipients=[bob.bundle()],
            options=sealer.SealOptions(chunk_size=1024),
            now=NOW,
        )
    )
    kwargs = {
        "recipient": bob,
        "resolve_sender": resolver(alice.bundle()),
        "options": opener.OpenOptions(now=NOW),
    }
    opened, _ = files.open_file(io.BytesIO(blob), **kwargs)  # type: ignore[arg-type]
    assert opened == plain


# --- a short file claiming a huge payload ------------------------------------------------


def test_unseal_from_a_short_file_with_a_forged_huge_size_is_tampering() -> None:
    """Anyone who can drop a file (no key needed: the sender key in the header is not yet
    authenticated, any trusted peer's public key will do) claims ``size`` = 64 GiB in a
    ~1 KB file. ``unseal`` refuses it at once as TamperedError (the blob length is
    checked before anything is allocated), but ``unseal_from`` first allocates the whole
    claimed payload (inplace.read_hashed -> buffers.plain_bytearray) and fails with a
    generic SealpackError('opening failed unexpectedly (MemoryError)') -- or, below the
    machine's commit limit, commits that much virtual memory until EOF is reached."""
    import sealpack
    from sealpack import errors
    from sealpack.envelope import header as hdr

    alice, bob = identity("alice", 2), identity("bob", 3)
    blob = bytes(sealer.seal_buffers([b"hello"], sender=alice, recipients=[bob.bundle()], now=NOW))
    core = bytearray(hdr.parse_header(blob, hdr.EnvelopeLimits()).core_bytes)
    at = core.find(b"\xa4size") + len(b"\xa4size")
    assert core[at] == 5  # positive fixint
    forged_core = core[:at] + b"\xcf" + (64 << 30).to_bytes(8, "big") + core[at + 1 :]
    forged = (
        hdr.MAGIC
        + bytes([2])
        + len(forged_core).to_bytes(4, "big")
        + bytes(forged_core)
        + blob[13 + len(core) :]
    )
    with pytest.raises(errors.TamperedError):
        sealpack.unseal(forged, recipient=bob, senders=[alice.bundle()], now=NOW)
    with pytest.raises(errors.TamperedError):
        sealpack.unseal_from(io.BytesIO(forged), recipient=bob, senders=[alice.bundle()], now=NOW)
