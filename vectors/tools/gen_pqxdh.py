"""Generate vectors/pqxdh.json: PQXDH (X25519 + ML-KEM-768) known answers, Wycheproof shape.

Every private key comes from a fixed seed: SHA-256("sealpack pqxdh vector <tcId> <role>")
for X25519 and Ed25519 keys, SHA-512(...) for the 64-byte ML-KEM-768 seeds (d || z).
pyca/cryptography draws ML-KEM encapsulation randomness itself, so the KEM ciphertext of
each case is *recorded*: the first run encapsulates, later runs reuse the ciphertext
already in vectors/pqxdh.json (so regeneration is byte for byte). The KEM shared secret
is always recomputed as ML-KEM-768.Decaps(seed, ciphertext), and SK and AD straight from
the formulas in docs/spec/keys.md section 4 with sealpack.primitives (not sealpack.x3dh).

Run: .venv/bin/python vectors/tools/gen_pqxdh.py  (rewrites vectors/pqxdh.json)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealpack import primitives
from sealpack.x3dh import PQ_INFO

OUT = Path(__file__).resolve().parents[1] / "pqxdh.json"
SALT = bytes(32)
PAD = b"\xff" * 32
CLASSICAL_INFO = b"sealpack X3DH v2"


def seed(tc_id: int, role: str) -> bytes:
    return primitives.sha256(f"sealpack pqxdh vector {tc_id} {role}".encode())


def kem_seed(tc_id: int, role: str) -> bytes:
    return primitives.sha512(f"sealpack pqxdh vector {tc_id} {role}".encode())


def clamp(raw: bytes) -> bytes:
    key = bytearray(raw)
    key[0] &= 248
    key[31] &= 127
    key[31] |= 64
    return bytes(key)


def public(private: bytes) -> bytes:
    return primitives.x25519_public_from_private(private)


def flip(ciphertext: bytes) -> bytes:
    """The "wrong KEM ciphertext" mistake (an involution: flipping twice restores it)."""
    return bytes([ciphertext[0] ^ 0x01]) + ciphertext[1:]


def derive(keys: dict[str, Any], shared: bytes, *, variant: str = "") -> tuple[bytes, bytes]:
    """Return (SK, AD); ``variant`` names a deliberate mistake."""
    ika, ikb, spkb, eka = (keys[k] for k in ("ika", "ikb", "spkb", "eka"))
    outputs = [
        primitives.x25519(ika, public(spkb)),
        primitives.x25519(eka, public(ikb)),
        primitives.x25519(eka, public(spkb)),
    ]
    if keys["opkb"] is not None and variant != "drop_dh4":
        outputs.append(primitives.x25519(eka, public(keys["opkb"])))
    if variant == "ss_first":
        ikm = PAD + shared + b"".join(outputs)
    elif variant == "no_ss":
        ikm = PAD + b"".join(outputs)
    else:
        ikm = PAD + b"".join(outputs) + shared
    info = CLASSICAL_INFO if variant == "classical_info" else PQ_INFO
    sk = primitives.hkdf_sha256(ikm, salt=SALT, info=info, length=32)
    ad = public(ika) + public(ikb) + keys["context"]
    return sk, ad


CASES: list[tuple[str, bool, str, bytes, str]] = [
    # comment, with OPK, PQ prekey kind, context, mistake ("" = valid)
    ("last-resort PQ prekey, with one-time prekey", True, "last-resort", b"", ""),
    ("last-resort PQ prekey, signed prekey only", False, "last-resort", b"", ""),
    ("PQ one-time prekey, with one-time prekey", True, "one-time", b"", ""),
    ("PQ one-time prekey, signed prekey only", False, "one-time", b"", ""),
    ("last-resort PQ prekey, with context", True, "last-resort", b"sealpack/v2/stanza", ""),
    ("PQ one-time prekey, with context", False, "one-time", b"context", ""),
    ("invalid: the KEM ciphertext has one bit flipped", True, "last-resort", b"", "wrong_ct"),
    ("invalid: wrong KEM ciphertext to a PQ one-time prekey", False, "one-time", b"", "wrong_ct"),
    ("invalid: SS placed before the DH outputs", True, "last-resort", b"", "ss_first"),
    ("invalid: DH4 left out although an OPK is used", True, "one-time", b"", "drop_dh4"),
    ("invalid: SS left out (classical KDF input)", False, "last-resort", b"", "no_ss"),
    ("invalid: classical X3DH info used for PQXDH", True, "last-resort", b"", "classical_info"),
]


def recorded_ciphertexts() -> dict[int, bytes]:
    """The ciphertexts in the committed file (the original encapsulation of each case)."""
    if not OUT.exists():
        return {}
    document = json.loads(OUT.read_text())
    recorded = {}
    for test in (t for group in document["testGroups"] for t in group["tests"]):
        ciphertext = bytes.fromhex(test["kem_ct"])
        recorded[test["tcId"]] = flip(ciphertext) if "wrong_ct" in test["flags"] else ciphertext
    return recorded


def make_test(tc_id: int, case: tuple[str, bool, str, bytes, str], recorded: bytes | None) -> Any:
    comment, with_opk, kind, context, mistake = case
    ika_seed, ikb_seed = seed(tc_id, "ika"), seed(tc_id, "ikb")
    keys: dict[str, Any] = {
        "ika": primitives.ed25519_seed_to_x25519_private(ika_seed),
        "ikb": primitives.ed25519_seed_to_x25519_private(ikb_seed),
        "spkb": clamp(seed(tc_id, "spkb")),
        "opkb": clamp(seed(tc_id, "opkb")) if with_opk else None,
        "eka": clamp(seed(tc_id, "eka")),
        "context": context,
    }
    pq_seed = kem_seed(tc_id, "pqpkb")
    pq_public = primitives.mlkem768_public_from_seed(pq_seed)
    ciphertext = recorded or primitives.mlkem768_encapsulate(pq_public)[1]
    shared = primitives.mlkem768_decapsulate(
        primitives.mlkem768_private_from_seed(pq_seed), ciphertext
    )
    sk, ad = derive(keys, shared, variant="" if mistake == "wrong_ct" else mistake)
    sent = flip(ciphertext) if mistake == "wrong_ct" else ciphertext
    return {
        "tcId": tc_id,
        "comment": comment,
        "flags": [
            "WithOPK" if with_opk else "NoOPK",
            "PQOneTime" if kind == "one-time" else "PQLastResort",
        ]
        + ([mistake] if mistake else []),
        "ika_seed": ika_seed.hex(),
        "ikb_seed": ikb_seed.hex(),
        "ika_priv": keys["ika"].hex(),
        "ikb_priv": keys["ikb"].hex(),
        "spkb_priv": keys["spkb"].hex(),
        "opkb_priv": None if keys["opkb"] is None else keys["opkb"].hex(),
        "eka_priv": keys["eka"].hex(),
        "pqpkb_kind": kind,
        "pqpkb_seed": pq_seed.hex(),
        "pqpkb_pub": pq_public.hex(),
        "kem_ct": sent.hex(),
        "kem_ss": shared.hex(),
        "context": context.hex(),
        "sk": sk.hex(),
        "ad": ad.hex(),
        "result": "invalid" if mistake else "valid",
    }


def build() -> dict[str, Any]:
    recorded = recorded_ciphertexts()
    tests = [make_test(i + 1, case, recorded.get(i + 1)) for i, case in enumerate(CASES)]
    return {
        "algorithm": "PQXDH",
        "schema": "sealpack_pqxdh_schema_v1",
        "generatorVersion": "sealpack vectors/tools/gen_pqxdh.py v1",
        "numberOfTests": len(tests),
        "header": [
            "PQXDH (Signal spec rev. 3) with X25519, ML-KEM-768, SHA-256; HKDF salt = 32 zero",
            "bytes, ikm = 32*0xFF || DH1 || DH2 || DH3 [|| DH4] || SS, info = file `info`.",
            "AD = Encode(IK_A) || Encode(IK_B) || context, Encode = X25519 public key.",
            "*_priv are X25519 private keys; pqpkb_seed is the 64-byte ML-KEM-768 seed d || z;",
            "kem_ct is the ciphertext sent (recorded: pyca draws encapsulation randomness);",
            "kem_ss = ML-KEM-768.Decaps(pqpkb_seed, original ciphertext).",
        ],
        "notes": {
            "WithOPK": "a one-time prekey is used (DH4 present)",
            "NoOPK": "signed prekey only (DH1..DH3)",
            "PQLastResort": "encapsulated to the signed PQ last-resort prekey",
            "PQOneTime": "encapsulated to a signed PQ one-time prekey",
            "wrong_ct": "kem_ct has one bit flipped after SK was derived from the original",
            "ss_first": "SS placed before the DH outputs in the KDF input",
            "drop_dh4": "DH4 is missing from the KDF input",
            "no_ss": "SS is missing from the KDF input",
            "classical_info": "the classical X3DH info string was used",
        },
        "info": PQ_INFO.hex(),
        "testGroups": [
            {
                "type": "PqxdhTest",
                "curve": "curve25519",
                "kem": "ML-KEM-768",
                "hash": "SHA-256",
                "tests": tests,
            }
        ],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    OUT.write_text(render(build()))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
