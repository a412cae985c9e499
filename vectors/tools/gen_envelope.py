"""Generate vectors/envelope.json: sealed blobs of format version 2 from fixed seeds.

Every random byte sealpack draws comes from a deterministic generator: ``DRBG(label)``
outputs SHA-256(label || counter as 8 bytes big endian) for counter = 0, 1, ...
Identities are made with ``Identity.generate(name, one_time_prekeys=n,
pq_one_time_prekeys=m, post_quantum=pq, rng=DRBG(seed), now=GENERATED_AT)`` and blobs
with ``seal_buffers([plaintext], rng=DRBG(seal seed), now=...)``. ML-KEM encapsulation
draws its randomness inside OpenSSL, so each vector records its encapsulations
(ciphertext and shared secret, in stanza order, with the SHA-256 of the PQ public key)
and the test suite re-seals every valid vector from its seeds with those
encapsulations replayed, to the same bytes. Regenerating replays the encapsulations
of the committed file wherever the PQ public key is unchanged, so the file is stable.

Each test gives the recipient's private keys (Ed25519 identity seed, X25519 signed and
one-time prekeys, ML-KEM-768 seeds of its PQ prekeys), the trusted sender's public
identity key, the time, the blob and either the expected plaintext (a codec frame) or
the one expected error type. Tampered payloads are also re-signed by the sender, so
they reach (and must fail at) the chunk checks, not only the signature. The stanza
directory cases (format 2 as amended before release, envelope.md section 4.1) change
the directory or another recipient's stanza; one of them is valid (another recipient's
malformed stanza, signed by the sender, is never decoded) and has no ``seal`` block.

Run: .venv/bin/python vectors/tools/gen_envelope.py  (rewrites vectors/envelope.json)
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sealpack import primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import randomness, sealer, stream, suite
from sealpack.keys import Identity, KeyBundle, MemoryPrekeyUsage
from sealpack.serialization import default_codec

OUT = Path(__file__).resolve().parents[1] / "envelope.json"
GENERATED_AT = 1_750_000_000
SEALED_AT = GENERATED_AT + 3600
CHUNK_SIZE = 1024
EXPIRES_IN = 86400
# name: (one-time prekeys, PQ one-time prekeys, post-quantum)
IDENTITIES = {
    "alice": (2, 0, True),
    "bob": (3, 2, True),
    "carol": (2, 0, True),
    "dave": (0, 0, False),
    "mallory": (1, 0, True),
}


class Drbg:
    """SHA-256 in counter mode over a label: reproducible "randomness" for vectors."""

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0
        self._pool = b""
        self.drawn: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        while len(self._pool) < n:
            block = self._label + self._counter.to_bytes(8, "big")
            self._pool += primitives.sha256(block)
            self._counter += 1
        out, self._pool = self._pool[:n], self._pool[n:]
        self.drawn.append(out)
        return out


@contextmanager
def recorded_encapsulations(prior: list[dict[str, str]] | None = None) -> Iterator[list[Any]]:
    """Record every ML-KEM encapsulation; replay ``prior`` ones (in order) whose PQ
    public key matches."""
    real = primitives.mlkem768_encapsulate
    record: list[dict[str, str]] = []
    queue = list(prior or [])

    def encapsulate(public: bytes) -> tuple[bytes, bytes]:
        key_hash = primitives.sha256(public).hex()
        item = queue.pop(0) if queue else None
        if item is not None and item["publicKeySha256"] == key_hash:
            shared, ciphertext = (
                bytes.fromhex(item["sharedSecret"]),
                bytes.fromhex(item["ciphertext"]),
            )
        else:
            shared, ciphertext = real(public)
        record.append(
            {
                "publicKeySha256": key_hash,
                "ciphertext": ciphertext.hex(),
                "sharedSecret": shared.hex(),
            }
        )
        return shared, ciphertext

    primitives.mlkem768_encapsulate = encapsulate  # type: ignore[assignment]
    try:
        with randomness.reproducible_for_vectors():
            yield record
    finally:
        primitives.mlkem768_encapsulate = real  # type: ignore[assignment]


def identity_seed(name: str) -> str:
    return f"sealpack envelope vector identity {name}"


def make_identity(name: str) -> tuple[Identity, Drbg]:
    rng = Drbg(identity_seed(name))
    opks, pq_opks, pq = IDENTITIES[name]
    identity = Identity.generate(
        name,
        one_time_prekeys=opks,
        pq_one_time_prekeys=pq_opks,
        post_quantum=pq,
        rng=rng,
        now=GENERATED_AT,
    )
    return identity, rng


def private_keys(name: str, rng: Drbg) -> dict[str, Any]:
    """Draw order of Identity.generate: Ed25519 seed, SPK 1, [PQ prekey 1 (64)], OPKs
    1..n, PQ one-time prekeys 2..m+1 (64 each)."""
    opks, pq_opks, pq = IDENTITIES[name]
    drawn = list(rng.drawn)
    seed, spk = drawn[0], drawn[1]
    rest = drawn[2:]
    pq_keys: dict[str, str] = {}
    if pq:
        pq_keys["1"] = rest.pop(0).hex()
    one_time = {str(i + 1): rest[i].hex() for i in range(opks)}
    for i in range(pq_opks):
        pq_keys[str(i + 2)] = rest[opks + i].hex()
    return {
        "name": name,
        "identitySeed": seed.hex(),
        "signedPrekeys": {"1": spk.hex()},
        "oneTimePrekeys": one_time,
        "pqPrekeys": pq_keys,
    }


def small_object() -> Any:
    return {"round": 3, "task": "fedavg", "values": [1, 2.5, None, True], "tag": b"\x00\x01"}


def array_object() -> Any:
    return {
        "layer0.weight": np.arange(256, dtype=np.float32).reshape(16, 16) / 7,
        "layer0.bias": np.linspace(-1, 1, 16, dtype=np.float64),
        "layer1.weight": np.arange(300, dtype=np.int64) * 3,
        "step": 12,
    }


def seal_options(meta: Any) -> sealer.SealOptions:
    return sealer.SealOptions(
        metadata=meta, expires_in=EXPIRES_IN, chunk_size=CHUNK_SIZE, allow_classical=True
    )


def committed_encapsulations() -> dict[str, list[dict[str, str]]]:
    """The encapsulations of the committed file, by seal seed (empty if none)."""
    try:
        document = json.loads(OUT.read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, list[dict[str, str]]] = {}
    for group in document.get("testGroups", []):
        for test in group.get("tests", []):
            seal = test.get("seal") or {}
            if "kemEncapsulations" in seal and "publicKeySha256" in str(seal):
                found[seal["rngSeed"]] = seal["kemEncapsulations"]
    return found


def seal_blob(
    plaintext: bytes, sender: Identity, bundles: list[KeyBundle], seal_seed: str, meta: Any
) -> tuple[bytes, list[dict[str, str]]]:
    # Each vector starts from a sender that has used none of the recipients' prekeys.
    sender.prekey_usage = MemoryPrekeyUsage()
    with recorded_encapsulations(committed_encapsulations().get(seal_seed)) as kem:
        blob = sealer.seal_buffers(
            [plaintext],
            sender=sender,
            recipients=bundles,
            options=seal_options(meta),
            rng=Drbg(seal_seed),
            now=SEALED_AT,
        )
    return bytes(blob), kem


def parse(blob: bytes) -> hdr.Header:
    return hdr.parse_header(blob, hdr.EnvelopeLimits())


def chunk_span(blob: bytes, index: int) -> tuple[int, int]:
    """Byte range of encrypted chunk ``index`` inside the blob."""
    start = len(parse(blob).header_bytes) + stream.PREFIX_SIZE
    start += index * (CHUNK_SIZE + stream.TAG_SIZE)
    return start, start + CHUNK_SIZE + stream.TAG_SIZE


def flip(blob: bytes, position: int) -> bytes:
    return blob[:position] + bytes([blob[position] ^ 0x01]) + blob[position + 1 :]


def swap_chunks(blob: bytes) -> bytes:
    (a0, a1), (b0, b1) = chunk_span(blob, 0), chunk_span(blob, 1)
    return blob[:a0] + blob[b0:b1] + blob[a0:a1] + blob[b1:]


def truncate_last(blob: bytes) -> bytes:
    end = len(blob) - hdr.SIGNATURE_SIZE
    return blob[: end - 1] + blob[end:]


def change_created(blob: bytes) -> bytes:
    position = blob.index(b"created") + len(b"created") + 1  # inside the uint32 value
    assert parse(flip(blob, position + 3)).core.created != parse(blob).core.created
    return flip(blob, position + 3)


def header_length(blob: bytes) -> int:
    """Where the payload starts, from the two section lengths alone (nothing checked)."""
    core_end = hdr.PREFIX_SIZE + int.from_bytes(blob[9:13], "big")
    return core_end + 4 + int.from_bytes(blob[core_end : core_end + 4], "big")


def resign(blob: bytes, signer: Identity) -> bytes:
    """Sign the (possibly modified, even malformed) header and payload again, as a
    sender could."""
    header_bytes, end = blob[: header_length(blob)], len(blob) - hdr.SIGNATURE_SIZE
    digest = suite.payload_digest(blob[len(header_bytes) : end])
    return blob[:end] + signer._sign_envelope(suite.signed_message(header_bytes, digest))


def flip_commitment(blob: bytes) -> bytes:
    return flip(blob, len(parse(blob).header_bytes) + stream.SALT_SIZE)


def flip_kem_ciphertext(blob: bytes, recipient: Identity) -> bytes:
    """Flip a byte of ``recipient``'s KEM ciphertext (ML-KEM then rejects implicitly)."""
    header = parse(blob)
    stanza = next(s for s in header.stanzas if s.recipient_key_id == recipient.key_id)
    assert stanza.kem_ciphertext is not None
    return flip(blob, blob.index(stanza.kem_ciphertext) + 100)


def classical_stanza(blob: bytes, sender: Identity, recipient: Identity) -> bytes:
    """Replace ``recipient``'s hybrid stanza by a valid classical X3DH one, re-signed:
    only the sender can make it; a hybrid recipient must refuse it (DowngradeError)."""
    header = parse(blob)
    context = suite.stanza_context(header.core_bytes)
    bundle = recipient.bundle()
    ephemeral = Drbg("sealpack envelope vector classical downgrade")(32)
    ek = primitives.x25519_public_from_private(ephemeral)
    dhs = [
        sender._identity_secret().exchange(bundle.signed_prekey.public),
        primitives.x25519(ephemeral, bundle.identity_key_x25519),
        primitives.x25519(ephemeral, bundle.signed_prekey.public),
    ]
    shared = x3dh.derive_shared_key(dhs, None)
    ad = x3dh.encode_identity_key(sender.public_identity_key) + bundle.identity_key_x25519
    content_key = Drbg("sealpack envelope vector seal three")(32)
    wrapped = suite.wrap_content_key(shared, ad + context, content_key)
    stanzas = [
        hdr.Stanza(s.recipient_key_id, s.signed_prekey_id, None, None, ek, None, wrapped)
        if s.recipient_key_id == recipient.key_id
        else s
        for s in header.stanzas
    ]
    new_header = hdr.encode_header(header.core_bytes, stanzas)
    return resign(new_header + blob[len(header.header_bytes) :], sender)


def split_section(blob: bytes) -> tuple[bytes, list[bytes], list[bytes], bytes]:
    """Cut a blob into the header up to the stanza section, the directory's key ids,
    the encoded stanzas and the rest (payload and signature)."""
    header = parse(blob)
    start = hdr.PREFIX_SIZE + len(header.core_bytes)
    section = header.header_bytes[start + 4 :]
    count = int.from_bytes(section[:4], "big")
    ids = [section[4 + 16 * i : 20 + 16 * i] for i in range(count)]
    bodies, at = [], 4 + 20 * count
    for length in struct.unpack_from(f">{count}I", section, 4 + 16 * count):
        bodies.append(section[at : at + length])
        at += length
    return header.header_bytes[:start], ids, bodies, blob[len(header.header_bytes) :]


def reframe(prefix: bytes, section: bytes, rest: bytes) -> bytes:
    """Put a (changed) stanza section back between the core and the payload."""
    return prefix + len(section).to_bytes(4, "big") + section + rest


def raw_section(ids: list[bytes], lengths: list[int], bodies: list[bytes]) -> bytes:
    """A stanza section with any lengths (hdr.frame_stanzas only writes true ones)."""
    count = len(ids).to_bytes(4, "big")
    return b"".join((count, *ids, struct.pack(f">{len(lengths)}I", *lengths), *bodies))


def _directory_cases(base: bytes, ids: dict[str, Identity]) -> list[tuple[str, bytes, str, str]]:
    """Tampering with the stanza section (bob opens a blob for bob, carol, dave)."""
    alice = ids["alice"]
    prefix, kids, bodies, rest = split_section(base)
    lengths = [len(b) for b in bodies]
    carol_mid = len(prefix) + 4 + 4 + 20 * len(kids) + lengths[0] + lengths[1] // 2
    shifted = [lengths[0] + 5, lengths[1] - 5, lengths[2]]
    straddling = [b"\xee" * 8 + kids[0][:8], kids[0][8:] + b"\xdd" * 8, kids[2]]
    return [
        (
            "a byte of carol's stanza changed, not re-signed",
            flip(base, carol_mid),
            "TamperedError",
            "OtherStanza",
        ),
        (
            "carol's directory entry names bob (one id twice), re-signed by the sender",
            resign(
                reframe(prefix, raw_section([kids[0], *kids[::2]], lengths, bodies), rest), alice
            ),
            "TamperedError",
            "ResignedDirectory",
        ),
        (
            "bob's and carol's directory ids swapped, re-signed by the sender",
            resign(
                reframe(prefix, raw_section([kids[1], kids[0], kids[2]], lengths, bodies), rest),
                alice,
            ),
            "TamperedError",
            "ResignedTampered",
        ),
        (
            "stanza lengths moved 5 bytes from carol's to bob's, re-signed by the sender",
            resign(reframe(prefix, raw_section(kids, shifted, bodies), rest), alice),
            "TamperedError",
            "ResignedTampered",
        ),
        (
            "bob's key id only across two directory entries, re-signed by the sender",
            resign(reframe(prefix, raw_section(straddling, lengths, bodies), rest), alice),
            "NotARecipientError",
            "UnalignedId",
        ),
        (
            "stanza count 4097 (over the 4096-recipient limit)",
            reframe(
                prefix, (4097).to_bytes(4, "big") + raw_section(kids, lengths, bodies)[4:], rest
            ),
            "LimitExceededError",
            "RecipientLimit",
        ),
    ]


def opaque_other(base: bytes, sender: Identity) -> bytes:
    """Carol's stanza replaced by one invalid msgpack byte, re-signed: bob does not decode
    other recipients' stanzas, so he still opens it."""
    prefix, kids, bodies, rest = split_section(base)
    return resign(
        reframe(prefix, hdr.frame_stanzas(kids, [bodies[0], b"\xc1", bodies[2]]), rest), sender
    )


def render(document: dict[str, Any]) -> str:
    """The file's exact text for ``document``."""
    return json.dumps(document, indent=1) + "\n"


def _valid_seal(label: str, recipients: list[KeyBundle], meta: Any, kem: Any) -> dict[str, Any]:
    return {
        "rngSeed": f"sealpack envelope vector seal {label}",
        "senderName": "alice",
        "recipients": [
            {
                "name": b.name,
                "oneTimePrekeys": [p.id for p in b.one_time_prekeys],
                "pqOneTimePrekeys": [p.id for p in b.pq_one_time_prekeys],
            }
            for b in recipients
        ],
        "metadata": meta,
        "now": SEALED_AT,
        "expiresIn": EXPIRES_IN,
        "chunkSize": CHUNK_SIZE,
        "allowClassical": True,
        "kemEncapsulations": kem,
    }


def _invalid_cases(base: bytes, ids: dict[str, Identity]) -> list[tuple[str, bytes, str, str]]:
    alice, bob = ids["alice"], ids["bob"]
    _, end = chunk_span(base, 2)
    tampered = "Tampered"
    return [
        ("bad tag in chunk 2, not re-signed", flip(base, end - 1), "TamperedError", tampered),
        (
            "bad tag in chunk 2, re-signed by the sender",
            resign(flip(base, end - 1), alice),
            "TamperedError",
            "ResignedTampered",
        ),
        (
            "chunks 0 and 1 swapped, re-signed by the sender",
            resign(swap_chunks(base), alice),
            "TamperedError",
            "ResignedTampered",
        ),
        (
            "key commitment changed, re-signed by the sender",
            resign(flip_commitment(base), alice),
            "TamperedError",
            "ResignedTampered",
        ),
        (
            "bob's KEM ciphertext changed, re-signed by the sender",
            resign(flip_kem_ciphertext(base, bob), alice),
            "TamperedError",
            "ResignedTampered",
        ),
        ("last chunk truncated by one byte", truncate_last(base), "TamperedError", tampered),
        ("one extra trailing byte", base + b"\x00", "TamperedError", tampered),
        ("header field 'created' changed", change_created(base), "TamperedError", tampered),
        (
            "signed by another sender (mallory)",
            resign(base, ids["mallory"]),
            "TamperedError",
            tampered,
        ),
        (
            "classical stanza to a hybrid recipient, re-signed by the sender",
            classical_stanza(base, alice, bob),
            "DowngradeError",
            "Downgrade",
        ),
        (
            "version byte 1 (format version 1 is no longer read)",
            base[:8] + b"\x01" + base[9:],
            "UnsupportedVersionError",
            "Version1",
        ),
    ]


class _Tests:
    """The vector list: sealed blobs by label and the tests added against them."""

    def __init__(self, ids: dict[str, Identity], keys: dict[str, Any]) -> None:
        self.ids, self.keys = ids, keys
        codec = default_codec()
        small = b"".join(codec.dumps_buffers(small_object()))
        arrays = b"".join(codec.dumps_buffers(array_object()))
        bundle = {name: ids[name].bundle() for name in ids}
        bare = {name: bundle[name].with_one_time_prekeys([]) for name in ids}
        self.blobs = {
            "one-opk": (small, [bundle["bob"]], {"purpose": "one recipient, with OPK and PQ OPK"}),
            "one-spk": (small, [bare["bob"]], {}),
            "three": (arrays, [bundle["bob"], bare["carol"], bundle["dave"]], {"round": 7}),
        }
        self.sealed = {
            label: seal_blob(
                plain, ids["alice"], recipients, f"sealpack envelope vector seal {label}", meta
            )
            for label, (plain, recipients, meta) in self.blobs.items()
        }
        self.tests: list[dict[str, Any]] = []

    def add(self, comment: str, label: str, who: str, **extra: Any) -> None:
        plaintext, recipients, meta = self.blobs[label]
        blob, kem = self.sealed[label]
        test: dict[str, Any] = {
            "tcId": len(self.tests) + 1,
            "comment": comment,
            "flags": extra.pop("flags", []),
            "blob": extra.pop("blob", blob).hex(),
            "now": extra.pop("now", SEALED_AT + 60),
            "clockSkew": 300,
            "sender": {"name": "alice", "identityKey": self.ids["alice"].public_identity_key.hex()},
            "recipient": self.keys[who],
        }
        if "error" in extra:
            test.update(result="invalid", error=extra.pop("error"))
        elif not extra.pop("resealable", True):
            test.update(result="valid", plaintext=plaintext.hex())
        else:
            seal = _valid_seal(label, recipients, meta, kem)
            test.update(result="valid", plaintext=plaintext.hex(), seal=seal)
        self.tests.append(test)


def build() -> dict[str, Any]:
    """Build the whole vector document from the fixed seeds."""
    made = {name: make_identity(name) for name in IDENTITIES}
    ids = {name: pair[0] for name, pair in made.items()}
    made_tests = _Tests(ids, {name: private_keys(name, pair[1]) for name, pair in made.items()})
    add = made_tests.add
    add(
        "one hybrid recipient with one-time prekey and PQ one-time prekey, small object",
        "one-opk",
        "bob",
        flags=["WithOPK", "PQOneTime"],
    )
    add(
        "one hybrid recipient, signed prekey and PQ last-resort prekey only",
        "one-spk",
        "bob",
        flags=["NoOPK", "PQLastResort"],
    )
    for who, flag in {"bob": "PQOneTime", "carol": "PQLastResort", "dave": "Classical"}.items():
        comment = f"three recipients (two hybrid, one classical), arrays, opened by {who}"
        add(comment, "three", who, flags=["MultiRecipient", flag])
    for comment, blob, error, flag in _invalid_cases(made_tests.sealed["three"][0], ids):
        add(comment, "three", "bob", blob=blob, error=error, flags=[flag])
    expired_at = SEALED_AT + EXPIRES_IN + 301
    add(
        "expired (now past expires + skew)",
        "one-spk",
        "bob",
        error="ExpiredError",
        now=expired_at,
        flags=["Expired"],
    )
    add(
        "not a recipient (mallory opens)",
        "three",
        "mallory",
        error="NotARecipientError",
        flags=["NotARecipient"],
    )
    three = made_tests.sealed["three"][0]
    for comment, blob, error, flag in _directory_cases(three, ids):
        add(comment, "three", "bob", blob=blob, error=error, flags=[flag])
    add(
        "carol's stanza malformed, re-signed by the sender, opened by bob (not decoded)",
        "three",
        "bob",
        blob=opaque_other(three, ids["alice"]),
        resealable=False,
        flags=["MultiRecipient", "OpaqueOther"],
    )
    return _document(made_tests.tests)


def _document(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "algorithm": "sealpack-envelope-v2",
        "schema": "sealpack_envelope_schema_v2",
        "generatorVersion": "sealpack vectors/tools/gen_envelope.py v2 (stanza directory)",
        "numberOfTests": len(tests),
        "header": [
            "Sealed blobs of envelope format version 2 (docs/spec/envelope.md).",
            "Randomness: DRBG(label) = SHA-256(label || u64be counter) blocks, concatenated.",
            "Identities: Identity.generate(name, one_time_prekeys=n, pq_one_time_prekeys=m,",
            "post_quantum=pq, rng=DRBG(identity label), now=generatedAt); draw order: Ed25519",
            "seed, SPK 1, PQ prekey 1 (64-byte ML-KEM seed, hybrid only), OPK 1..n, PQ OPK",
            "2..m+1 (64 each). Seal draw order: content key 32, message id 16, payload salt",
            "24, EK 32 per recipient; ML-KEM encapsulations are recorded in seal.kemEncapsulations",
            "(stanza order of hybrid stanzas) because OpenSSL draws their randomness.",
            "Format 2 as amended before release: the stanza section is a directory (count,",
            "key ids, stanza lengths) then the stanzas; the signature covers BLAKE3 of it.",
        ],
        "notes": {
            "WithOPK": "the stanza uses a one-time prekey (4 DHs)",
            "NoOPK": "the stanza uses the signed prekey only (3 DHs)",
            "PQOneTime": "PQXDH with a PQ one-time prekey (consumed once opened)",
            "PQLastResort": "PQXDH with the signed PQ last-resort prekey",
            "Classical": "classical X3DH to a recipient without PQ prekey (allowClassical)",
            "MultiRecipient": "one payload encryption, three stanzas",
            "Tampered": "a modified blob: must fail with TamperedError",
            "ResignedTampered": "a modified blob the sender signed again: TamperedError at "
            "the commitment, key unwrap or chunk checks (never at the signature)",
            "Downgrade": "a classical stanza to a recipient with a PQ prekey: DowngradeError",
            "Version1": "format version 1 is refused: UnsupportedVersionError",
            "Expired": "opened after expires + clockSkew: ExpiredError",
            "NotARecipient": "the blob has no stanza for this recipient: NotARecipientError",
            "OtherStanza": "another recipient's stanza changed: the signature (over the "
            "BLAKE3 of the whole stanza section) fails for every recipient",
            "ResignedDirectory": "a stanza directory the sender signed again whose key ids "
            "are not distinct: TamperedError while parsing",
            "UnalignedId": "the recipient's key id occurs in the directory only across two "
            "entries (not at a 16-byte boundary): NotARecipientError",
            "RecipientLimit": "a stanza count over 4096: LimitExceededError while parsing",
            "OpaqueOther": "another recipient's malformed stanza, signed by the sender: a "
            "recipient decodes only its own stanza, so it still opens (valid, no seal block)",
        },
        "testGroups": [
            {
                "type": "SealpackEnvelopeOpen",
                "generatedAt": GENERATED_AT,
                "identities": {
                    name: {
                        "rngSeed": identity_seed(name),
                        "oneTimePrekeys": opks,
                        "pqOneTimePrekeys": pq_opks,
                        "postQuantum": pq,
                    }
                    for name, (opks, pq_opks, pq) in IDENTITIES.items()
                },
                "tests": tests,
            }
        ],
    }


def main() -> None:
    document = build()
    OUT.write_text(render(document))
    print(f"wrote {len(document['testGroups'][0]['tests'])} tests to {OUT}")


if __name__ == "__main__":
    main()
