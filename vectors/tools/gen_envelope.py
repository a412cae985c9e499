"""Generate vectors/envelope.json: sealed blobs from fixed seeds, in Wycheproof's shape.

Every random byte comes from a deterministic generator: ``DRBG(label)`` outputs
SHA-256(label || counter as 8 bytes big endian) for counter = 0, 1, ...
Identities are made with ``Identity.generate(name, one_time_prekeys=n, rng=DRBG(seed),
now=GENERATED_AT)`` and blobs with ``seal_buffers([plaintext], rng=DRBG(seal seed), now=...)``,
so the test suite re-seals every valid vector to the same bytes.

Each test gives the recipient's private keys (Ed25519 identity seed, X25519 signed and
one-time prekeys), the trusted sender's public identity key, the time, the blob and
either the expected plaintext (a codec frame) or the one expected error type.

Run: .venv/bin/python vectors/tools/gen_envelope.py  (rewrites vectors/envelope.json)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sealpack import primitives
from sealpack.envelope import header as hdr
from sealpack.envelope import sealer, stream, suite
from sealpack.keys import Identity, KeyBundle, MemoryPrekeyUsage
from sealpack.serialization import default_codec

OUT = Path(__file__).resolve().parents[1] / "envelope.json"
GENERATED_AT = 1_750_000_000
SEALED_AT = GENERATED_AT + 3600
CHUNK_SIZE = 1024
EXPIRES_IN = 86400
IDENTITIES = {"alice": 2, "bob": 3, "carol": 2, "dave": 0, "mallory": 1}


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


def identity_seed(name: str) -> str:
    return f"sealpack envelope vector identity {name}"


def make_identity(name: str) -> tuple[Identity, Drbg]:
    rng = Drbg(identity_seed(name))
    identity = Identity.generate(name, one_time_prekeys=IDENTITIES[name], rng=rng, now=GENERATED_AT)
    return identity, rng


def private_keys(name: str, rng: Drbg) -> dict[str, Any]:
    """Draw order of Identity.generate: Ed25519 seed, SPK 1, then OPKs 1..n."""
    return {
        "name": name,
        "identitySeed": rng.drawn[0].hex(),
        "signedPrekeys": {"1": rng.drawn[1].hex()},
        "oneTimePrekeys": {str(i + 1): key.hex() for i, key in enumerate(rng.drawn[2:])},
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


def seal_blob(
    plaintext: bytes, sender: Identity, bundles: list[KeyBundle], seal_seed: str, meta: Any
) -> bytes:
    options = sealer.SealOptions(
        metadata=meta,
        expires_in=EXPIRES_IN,
        chunk_size=CHUNK_SIZE,
    )
    # Each vector starts from a sender that has used none of the recipients' prekeys.
    sender.prekey_usage = MemoryPrekeyUsage()
    blob = sealer.seal_buffers(
        [plaintext],
        sender=sender,
        recipients=bundles,
        options=options,
        rng=Drbg(seal_seed),
        now=SEALED_AT,
    )
    return bytes(blob)


def chunk_span(blob: bytes, index: int) -> tuple[int, int]:
    """Byte range of encrypted chunk ``index`` inside the blob."""
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    start = len(header.header_bytes) + stream.PREFIX_SIZE + index * (CHUNK_SIZE + stream.TAG_SIZE)
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
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    position = blob.index(b"created") + len(b"created") + 1  # inside the uint32 value
    assert hdr.parse_header(flip(blob, position + 3), hdr.EnvelopeLimits()).core.created != (
        header.core.created
    )
    return flip(blob, position + 3)


def resign(blob: bytes, signer: Identity) -> bytes:
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    end = len(blob) - hdr.SIGNATURE_SIZE
    digest = primitives.sha256(blob[len(header.header_bytes) : end])
    return blob[:end] + signer.sign(suite.signed_message(header.header_bytes, digest))


Mutation = Callable[[bytes], bytes]


def render(document: dict[str, Any]) -> str:
    """The file's exact text for ``document``."""
    return json.dumps(document, indent=1) + "\n"


def build() -> dict[str, Any]:
    """Build the whole vector document from the fixed seeds."""
    made = {name: make_identity(name) for name in IDENTITIES}
    ids = {name: pair[0] for name, pair in made.items()}
    keys = {name: private_keys(name, pair[1]) for name, pair in made.items()}
    codec = default_codec()
    small = b"".join(codec.dumps_buffers(small_object()))
    arrays = b"".join(codec.dumps_buffers(array_object()))
    bundle = {name: ids[name].bundle() for name in ids}
    no_opk = {name: bundle[name].with_one_time_prekeys([]) for name in ids}
    blobs = {
        "one-opk": (small, [bundle["bob"]], {"purpose": "one recipient, with OPK"}),
        "one-spk": (small, [no_opk["bob"]], {}),
        "three": (arrays, [bundle["bob"], no_opk["carol"], bundle["dave"]], {"round": 7}),
    }
    sealed = {}
    for label, (plaintext, recipients, meta) in blobs.items():
        seed = f"sealpack envelope vector seal {label}"
        sealed[label] = seal_blob(plaintext, ids["alice"], recipients, seed, meta)
    tests: list[dict[str, Any]] = []

    def add(comment: str, label: str, who: str, **extra: Any) -> None:
        plaintext, recipients, meta = blobs[label]
        test: dict[str, Any] = {
            "tcId": len(tests) + 1,
            "comment": comment,
            "flags": extra.pop("flags", []),
            "blob": extra.pop("blob", sealed[label]).hex(),
            "now": extra.pop("now", SEALED_AT + 60),
            "clockSkew": 300,
            "sender": {"name": "alice", "identityKey": ids["alice"].public_identity_key.hex()},
            "recipient": keys[who],
        }
        if "error" in extra:
            test.update(result="invalid", error=extra.pop("error"))
        else:
            test.update(
                result="valid",
                plaintext=plaintext.hex(),
                seal={
                    "rngSeed": f"sealpack envelope vector seal {label}",
                    "senderName": "alice",
                    "recipients": [
                        {"name": b.name, "oneTimePrekeys": [p.id for p in b.one_time_prekeys]}
                        for b in recipients
                    ],
                    "metadata": meta,
                    "now": SEALED_AT,
                    "expiresIn": EXPIRES_IN,
                    "chunkSize": CHUNK_SIZE,
                },
            )
        tests.append(test)

    add("one recipient with one-time prekey, small object", "one-opk", "bob", flags=["WithOPK"])
    add("one recipient, signed prekey only, small object", "one-spk", "bob", flags=["NoOPK"])
    for who in ("bob", "carol", "dave"):
        add(f"three recipients, arrays, opened by {who}", "three", who, flags=["MultiRecipient"])
    base = sealed["three"]
    _, end = chunk_span(base, 2)
    invalid: list[tuple[str, str, bytes, str]] = [
        ("bad tag in chunk 2 (third chunk)", "three", flip(base, end - 1), "TamperedError"),
        ("last chunk truncated by one byte", "three", truncate_last(base), "TamperedError"),
        ("chunks 0 and 1 swapped", "three", swap_chunks(base), "TamperedError"),
        ("one extra trailing byte", "three", base + b"\x00", "TamperedError"),
        ("header field 'created' changed", "three", change_created(base), "TamperedError"),
        (
            "signed by another sender (mallory)",
            "three",
            resign(base, ids["mallory"]),
            "TamperedError",
        ),
    ]
    for comment, label, blob, error in invalid:
        add(comment, label, "bob", blob=blob, error=error, flags=["Tampered"])
    add(
        "expired (now past expires + skew)",
        "one-spk",
        "bob",
        error="ExpiredError",
        now=SEALED_AT + EXPIRES_IN + 301,
        flags=["Expired"],
    )
    add(
        "not a recipient (mallory opens)",
        "three",
        "mallory",
        error="NotARecipientError",
        flags=["NotARecipient"],
    )
    document = {
        "algorithm": "sealpack-envelope-v1",
        "schema": "sealpack_envelope_schema_v1",
        "generatorVersion": "sealpack vectors/tools/gen_envelope.py v1",
        "numberOfTests": len(tests),
        "header": [
            "Sealed blobs of envelope version 1 (docs/SPEC.md, envelope section).",
            "Randomness: DRBG(label) = SHA-256(label || u64be counter) blocks, concatenated.",
            "Identities: Identity.generate(name, one_time_prekeys=n, rng=DRBG(identity label),",
            "now=generatedAt); draw order: Ed25519 seed, SPK 1, OPK 1..n (X25519 privates).",
            "Seal draw order: content key 32, message id 16, payload salt 24, EK 32 per recipient.",
        ],
        "notes": {
            "WithOPK": "the stanza uses a one-time prekey (4 DHs)",
            "NoOPK": "the stanza uses the signed prekey only (3 DHs)",
            "MultiRecipient": "one payload encryption, three stanzas",
            "Tampered": "a modified blob: must fail with TamperedError",
            "Expired": "opened after expires + clockSkew: ExpiredError",
            "NotARecipient": "the blob has no stanza for this recipient: NotARecipientError",
        },
        "testGroups": [
            {
                "type": "SealpackEnvelopeOpen",
                "generatedAt": GENERATED_AT,
                "identities": {
                    name: {"rngSeed": identity_seed(name), "oneTimePrekeys": n}
                    for name, n in IDENTITIES.items()
                },
                "tests": tests,
            }
        ],
    }
    return document


def main() -> None:
    document = build()
    OUT.write_text(render(document))
    print(f"wrote {len(document['testGroups'][0]['tests'])} tests to {OUT}")


if __name__ == "__main__":
    main()
