"""Generate vectors/ratchet.json: a session conversation from fixed seeds.

Run: ``.venv/bin/python vectors/tools/gen_ratchet.py > vectors/ratchet.json``. The test
suite regenerates the file byte for byte and replays it (tests/session/test_vectors.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sealpack import errors
from sealpack.session import kdf, ratchet, start
from sealpack.session.skipped import SessionLimits

LIMITS = SessionLimits(max_skip=10, max_stored=3, max_age=3600)
IK_INITIATOR = hashlib.sha256(b"vector initiator identity key").digest()
IK_RESPONDER = hashlib.sha256(b"vector responder identity key").digest()


def seeded(label: bytes, drawn: list[str]) -> Callable[[int], bytes]:
    """A deterministic rng: SHA-256(label || counter), recording what it yields."""
    counter = [0]

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(label + counter[0].to_bytes(4, "big")).digest()
            counter[0] += 1
        drawn.append(out[:n].hex())
        return out[:n]

    return rng


# (actor, action, argument): "send" a text; "recv" the message with that label;
# "tamper" delivers a copy of that message with its last byte flipped.
SCRIPT: list[tuple[str, str, str]] = [
    ("responder", "send", "b0"),
    ("responder", "send", "b1"),
    ("responder", "send", "b2"),
    ("initiator", "recv", "b2"),
    ("initiator", "recv", "b0"),
    ("initiator", "send", "a0"),
    ("initiator", "send", "a1"),
    ("initiator", "send", "a2"),
    ("responder", "recv", "a1"),
    ("responder", "recv", "a0"),
    ("responder", "recv", "a1"),
    ("responder", "send", "b3"),
    ("initiator", "recv", "b3"),
    ("initiator", "recv", "b1"),
    ("initiator", "recv", "b1"),
    ("initiator", "send", "a3"),
    ("initiator", "send", "a4"),
    ("initiator", "send", "a5"),
    ("initiator", "send", "a6"),
    ("initiator", "send", "a7"),
    ("responder", "tamper", "a7"),
    ("responder", "recv", "a7"),
    ("responder", "recv", "a2"),
    ("responder", "recv", "a6"),
    ("responder", "recv", "a4"),
]


def build() -> dict[str, Any]:
    """The whole vector document."""
    chain_steps: list[list[str]] = []
    root_steps: list[list[str]] = []
    real_ck, real_rk = kdf.kdf_ck, kdf.kdf_rk

    def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
        nxt, mk = real_ck(ck)
        chain_steps.append([ck.hex(), nxt.hex(), mk.hex()])
        return nxt, mk

    def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
        new_rk, ck = real_rk(rk, dh_out)
        root_steps.append([rk.hex(), dh_out.hex(), new_rk.hex(), ck.hex()])
        return new_rk, ck

    kdf.kdf_ck, kdf.kdf_rk = kdf_ck, kdf_rk  # type: ignore[assignment]
    try:
        return _conversation(chain_steps, root_steps)
    finally:
        kdf.kdf_ck, kdf.kdf_rk = real_ck, real_rk  # type: ignore[assignment]


Rngs = dict[str, Callable[[int], bytes]]


def parties() -> tuple[dict[str, list[str]], Rngs, Rngs, dict[str, Any]]:
    """Both sides of the scripted session from their seeds.

    Returns:
        (draws recorded per side, their ratchet-key rngs, their nonce rngs, states). The
        inline payloads' nonces come from their own seeded streams: they travel in the
        messages, so "ratchet_keys" keeps only what a receiver draws (its ratchet keys).
    """
    drawn: dict[str, list[str]] = {"initiator": [], "responder": []}
    rngs = {who: seeded(f"ratchet {who}".encode(), drawn[who]) for who in drawn}
    nonces = {who: seeded(f"nonces {who}".encode(), []) for who in drawn}
    init = start.initiator_state(IK_INITIATOR, IK_RESPONDER, rng=rngs["initiator"], now=0)
    secret = start.start_of(init)
    resp = start.responder_state(secret, IK_INITIATOR, IK_RESPONDER, rng=rngs["responder"], now=0)
    return drawn, rngs, nonces, {"initiator": init, "responder": resp}


def _conversation(chain_steps: list[list[str]], root_steps: list[list[str]]) -> dict[str, Any]:
    drawn, rngs, nonces, states = parties()
    secret = start.start_of(states["initiator"])  # before the first DH step drops it
    sent: dict[str, bytes] = {}
    tests: list[dict[str, Any]] = []
    for actor, action, label in SCRIPT:
        if action == "send":
            sent[label] = ratchet.encrypt(
                states[actor], [label.encode()], signed=False, rng=nonces[actor]
            )
            continue
        message = sent[label]
        if action == "tamper":
            message = message[:-1] + bytes([message[-1] ^ 1])
        tests.append(_deliver(len(tests) + 1, states, actor, (label, action), message, rngs[actor]))
    return {
        "algorithm": "sealpack session v2 (Double Ratchet)",
        "schema": "sealpack_ratchet_schema_v1",
        "generatorVersion": "sealpack vectors/tools/gen_ratchet.py v1",
        "numberOfTests": len(tests),
        "header": [
            "docs/spec/session.md. Tests are deliveries in order to one stateful pair;",
            "body = the label's ASCII. ratchet_keys: every random draw of each side in order",
            "(initiator: session id, secret, then X25519 private keys). chain_steps: every",
            "KDF_CK [ck, next ck, mk]; root_steps: every KDF_RK [rk, dh, new rk, ck].",
        ],
        "limits": {"max_skip": LIMITS.max_skip, "max_stored": LIMITS.max_stored},
        "start": {
            "session_id": secret.session_id.hex(),
            "secret": secret.secret.hex(),
            "initiator_ik": IK_INITIATOR.hex(),
            "responder_ik": IK_RESPONDER.hex(),
        },
        "ratchet_keys": drawn,
        "chain_steps": chain_steps,
        "root_steps": root_steps,
        "testGroups": [{"type": "RatchetConversation", "tests": tests}],
    }


def _deliver(
    tc_id: int,
    states: dict[str, ratchet.RatchetState],
    actor: str,
    step: tuple[str, str],
    message: bytes,
    rng: Callable[[int], bytes],
) -> dict[str, Any]:
    label, action = step
    test: dict[str, Any] = {"tcId": tc_id, "to": actor, "msg": message.hex()}
    working = states[actor].copy()
    try:
        inner, _, _ = ratchet.decrypt(working, message, now=0, limits=LIMITS, rng=rng)
        states[actor] = working
        test.update(comment=f"{label} delivered", result="valid", body=inner.hex())
    except errors.SealpackError as error:
        what = "tampered copy of " if action == "tamper" else "again or too late: "
        test.update(comment=f"{what}{label}", result="invalid", error=type(error).__name__)
    finally:
        # The record (root_steps) shows both halves of a DH step at the step, also on a
        # copy discarded after a failure; the library does the sending half at the next
        # send, which gives the same messages (test_lazy_sending_half_gives_the_same_bytes).
        ratchet.send_step(working)
    return test


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))
