"""Generate vectors/x3dh.json: classical X3DH known answers in Wycheproof's JSON shape.

Classical X3DH is what format version 2 runs for a recipient without a PQ prekey
(info "sealpack X3DH v2"); PQXDH has its own file (gen_pqxdh.py, vectors/pqxdh.json).

Every private key comes from a fixed seed: SHA-256("sealpack x3dh vector <tcId> <role>").
SK and AD are computed here straight from the formulas in docs/spec/keys.md with
sealpack.primitives (not with sealpack.x3dh), so the test that re-derives them through
sealpack.x3dh checks the implementation against an independent computation.

Run: .venv/bin/python vectors/tools/gen_x3dh.py  (rewrites vectors/x3dh.json)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealpack import primitives
from sealpack.x3dh import INFO

OUT = Path(__file__).resolve().parents[1] / "x3dh.json"
SALT = bytes(32)
PAD = b"\xff" * 32


def seed(tc_id: int, role: str) -> bytes:
    return primitives.sha256(f"sealpack x3dh vector {tc_id} {role}".encode())


def clamp(raw: bytes) -> bytes:
    key = bytearray(raw)
    key[0] &= 248
    key[31] &= 127
    key[31] |= 64
    return bytes(key)


def public(private: bytes) -> bytes:
    return primitives.x25519_public_from_private(private)


def derive(keys: dict[str, Any], *, variant: str = "") -> tuple[bytes, bytes]:
    """Return (SK, AD) for the keys; ``variant`` names a deliberate mistake."""
    ika, ikb, spkb, eka = (keys[k] for k in ("ika", "ikb", "spkb", "eka"))
    dh1 = primitives.x25519(ika, public(spkb))
    dh2 = primitives.x25519(eka, public(ikb))
    dh3 = primitives.x25519(eka, public(spkb))
    outputs = [dh2, dh1, dh3] if variant == "swap12" else [dh1, dh2, dh3]
    if keys["opkb"] is not None and variant != "drop_dh4":
        outputs.append(primitives.x25519(eka, public(keys["opkb"])))
    pad = b"" if variant == "no_pad" else PAD
    sk = primitives.hkdf_sha256(pad + b"".join(outputs), salt=SALT, info=INFO, length=32)
    if variant == "bitflip":
        sk = bytes([sk[0] ^ 0x01]) + sk[1:]
    ad = public(ika) + public(ikb) + keys["context"]
    return sk, ad


CASES: list[tuple[str, bool, bytes, str]] = [
    # comment, with OPK, context, mistake ("" = valid)
    ("with one-time prekey", True, b"", ""),
    ("with one-time prekey, second key set", True, b"", ""),
    ("with one-time prekey and context", True, b"sealpack envelope v2", ""),
    ("with one-time prekey, fourth key set", True, b"", ""),
    ("signed prekey only (no OPK)", False, b"", ""),
    ("signed prekey only, second key set", False, b"", ""),
    ("signed prekey only, with context", False, b"context", ""),
    ("signed prekey only, fourth key set", False, b"", ""),
    ("invalid: SK with its lowest bit flipped", True, b"", "bitflip"),
    ("invalid: SK derived without the 32 0xFF bytes before the DH outputs", True, b"", "no_pad"),
    ("invalid: SK derived with DH1 and DH2 swapped", False, b"", "swap12"),
    ("invalid: SK derived leaving DH4 out although an OPK is used", True, b"", "drop_dh4"),
]


def make_test(tc_id: int, comment: str, with_opk: bool, context: bytes, mistake: str) -> Any:
    ika_seed, ikb_seed = seed(tc_id, "ika"), seed(tc_id, "ikb")
    keys: dict[str, Any] = {
        "ika": primitives.ed25519_seed_to_x25519_private(ika_seed),
        "ikb": primitives.ed25519_seed_to_x25519_private(ikb_seed),
        "spkb": clamp(seed(tc_id, "spkb")),
        "opkb": clamp(seed(tc_id, "opkb")) if with_opk else None,
        "eka": clamp(seed(tc_id, "eka")),
        "context": context,
    }
    sk, ad = derive(keys, variant=mistake)
    return {
        "tcId": tc_id,
        "comment": comment,
        "flags": ["WithOPK" if with_opk else "NoOPK"] + ([mistake] if mistake else []),
        "ika_seed": ika_seed.hex(),
        "ikb_seed": ikb_seed.hex(),
        "ika_priv": keys["ika"].hex(),
        "ikb_priv": keys["ikb"].hex(),
        "spkb_priv": keys["spkb"].hex(),
        "opkb_priv": None if keys["opkb"] is None else keys["opkb"].hex(),
        "eka_priv": keys["eka"].hex(),
        "context": context.hex(),
        "sk": sk.hex(),
        "ad": ad.hex(),
        "result": "invalid" if mistake else "valid",
    }


def build() -> dict[str, Any]:
    tests = [make_test(i + 1, *case) for i, case in enumerate(CASES)]
    return {
        "algorithm": "X3DH",
        "schema": "sealpack_x3dh_schema_v1",
        "generatorVersion": "sealpack vectors/tools/gen_x3dh.py v2",
        "numberOfTests": len(tests),
        "header": [
            "X3DH (Signal spec rev. 1) with X25519, SHA-256, HKDF salt = 32 zero bytes,",
            "ikm = 32*0xFF || DH1 || DH2 || DH3 [|| DH4]. AD = Encode(IK_A) || Encode(IK_B)",
            "|| context, Encode = X25519 public key. *_priv are X25519 private keys (hex);",
            "ik*_seed are the Ed25519 seeds the identity keys come from.",
        ],
        "notes": {
            "WithOPK": "a one-time prekey is used (DH4 present)",
            "NoOPK": "signed prekey only (DH1..DH3)",
            "bitflip": "the expected SK has one bit flipped",
            "no_pad": "the 0xFF prefix of the KDF input is missing",
            "swap12": "DH1 and DH2 are in the wrong order",
            "drop_dh4": "DH4 is missing from the KDF input",
        },
        "info": INFO.hex(),
        "testGroups": [
            {"type": "X3dhTest", "curve": "curve25519", "hash": "SHA-256", "tests": tests}
        ],
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
