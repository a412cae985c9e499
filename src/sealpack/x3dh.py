"""PQXDH (Signal, revision 3) with X25519 + ML-KEM-768, and classical X3DH, as functions.

Identity keys are Ed25519 keys whose X25519 form is used for DH (docs/spec/keys.md).

    DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
    DH4 = DH(EK_A, OPK_B)   (only when a one-time prekey is used)
    (CT, SS) = ML-KEM-768.Encaps(PQPK_B)          (PQXDH only)
    SK  = HKDF-SHA256(ikm = 0xFF * 32 || DH1 || DH2 || DH3 [|| DH4] [|| SS],
                      salt = 0x00 * 32, info = PQ_INFO or INFO, length = 32)
    AD  = Encode(IK_A) || Encode(IK_B) || context

PQXDH uses ``PQ_INFO``; classical X3DH (``INFO``) is only for a recipient without a PQ
prekey: an initiator refuses it to a bundle with one, a responder holding one refuses a
classical header (both :class:`~sealpack.errors.DowngradeError`).

DH1 joins two static keys, so it is the same for every message between the same keys:
each side remembers it in the private-key handle that computed it
(``X25519Secret.exchange_static``: bounded, gone with the handle; issue 18). The bytes
derived are unchanged; a fresh EK still makes every SK fresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sealpack import errors, primitives
from sealpack.keys.bundle import KeyBundle, identity_x25519
from sealpack.keys.identity import Identity
from sealpack.keys.secret import RefusesExport, X25519Secret

__all__ = [
    "INFO",
    "PQ_INFO",
    "X3DHHeader",
    "X3DHResult",
    "derive_shared_key",
    "encode_identity_key",
    "initiate",
    "respond",
]

INFO = b"sealpack X3DH v2"
PQ_INFO = b"sealpack_CURVE25519_SHA-256_ML-KEM-768"
_SALT = bytes(32)
_PAD = b"\xff" * 32


@dataclass(frozen=True)
class X3DHHeader:
    """What the initiator sends so the responder can derive the same key.

    ``pq_prekey_id`` and ``kem_ciphertext`` (1088 bytes) are both set (PQXDH) or both
    None (classical X3DH).
    """

    identity_key: bytes
    ephemeral_key: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None
    pq_prekey_id: int | None = None
    kem_ciphertext: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class X3DHResult(RefusesExport):
    """The shared key SK (hidden from repr), the associated data AD and the header.

    ``one_time_prekeys`` is ``(classical OPK id, PQ one-time prekey id)`` this exchange
    used (None where none): what ``respond(..., consume=False)`` left for the caller's
    commit. A PQ last-resort prekey is never listed (it is not consumed).
    """

    shared_key: bytes = field(repr=False, compare=False)  # compare=False: pytest never
    associated_data: bytes  # shows it in an assertion diff; eq=False: identity equality
    header: X3DHHeader
    one_time_prekeys: tuple[int | None, int | None] = (None, None)


def encode_identity_key(identity_key: bytes) -> bytes:
    """Encode(IK): the X25519 form of an Ed25519 identity key (32 bytes).

    Raises:
        BundleError: the key is not a valid point of large order.
    """
    return identity_x25519(identity_key)


def derive_shared_key(dh_outputs: list[bytes], kem_secret: bytes | None) -> bytes:
    """SK = HKDF-SHA256(0xFF*32 || DH1 || ... [|| SS]), info PQ_INFO with SS, else INFO."""
    ikm = _PAD + b"".join(dh_outputs) + (kem_secret or b"")
    info = INFO if kem_secret is None else PQ_INFO
    return primitives.hkdf_sha256(ikm, salt=_SALT, info=info, length=32)


def _pq_public(bundle: KeyBundle, pq_prekey_id: int | None) -> tuple[bytes | None, bool]:
    """The ML-KEM key to encapsulate to and whether it is a one-time prekey.

    Raises:
        DowngradeError: classical requested for a bundle with a PQ prekey.
        PrekeyError: the PQ id is not in the bundle.
    """
    if pq_prekey_id is None:
        if bundle.pq_prekey is not None:
            raise errors.DowngradeError(
                f"the bundle of {bundle.name!r} has a post-quantum prekey; classical X3DH refused"
            )
        return None, False
    if type(pq_prekey_id) is not int:
        raise errors.PrekeyError("PQ prekey id must be an integer or None")
    if bundle.pq_prekey is not None and bundle.pq_prekey.id == pq_prekey_id:
        return bundle.pq_prekey.public, False
    one_time = bundle.pq_one_time_prekey(pq_prekey_id)
    if one_time is None:
        raise errors.PrekeyError(f"PQ prekey {pq_prekey_id} is not in the bundle")
    return one_time.public, True


def initiate(
    sender: Identity,
    bundle: KeyBundle,
    *,
    one_time_prekey_id: int | None,
    pq_prekey_id: int | None,
    context: bytes = b"",
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> X3DHResult:
    """Run PQXDH (or classical X3DH) as the initiator (Alice) against a verified bundle.

    Args:
        sender: the initiator's identity.
        bundle: the responder's verified bundle.
        one_time_prekey_id: an OPK id from the bundle, or None for SPK only.
        pq_prekey_id: the bundle's PQ last-resort id or one of its PQ one-time prekey
            ids; None means classical X3DH, allowed only for a bundle without PQ prekey.
        context: bytes appended to AD.
        rng: source of the ephemeral key (32 bytes drawn; the KEM draws its own).
        now: current time; the bundle's signed prekeys must not be expired.

    Returns:
        SK, AD, the header to send, and the one-time prekeys used.

    Raises:
        DowngradeError: ``pq_prekey_id`` is None but the bundle has a PQ prekey.
        PrekeyError: a prekey has expired or an id is not in the bundle.
    """
    if bundle.is_expired(now=now):
        raise errors.PrekeyError(f"signed prekey of {bundle.name!r} has expired")
    pq_public, pq_one_time = _pq_public(bundle, pq_prekey_id)
    dh1 = sender._identity_secret().exchange_static(bundle.signed_prekey.public)  # memoized
    ephemeral = X25519Secret(primitives.random_bytes(32, rng=rng))  # one key object (issue 18)
    outputs = [dh1, *_ephemeral_outputs(ephemeral, bundle, one_time_prekey_id)]
    kem_secret, ciphertext = (None, None)
    if pq_public is not None:
        kem_secret, ciphertext = primitives.mlkem768_encapsulate(pq_public)
    header = X3DHHeader(
        identity_key=sender.public_identity_key,
        ephemeral_key=ephemeral.public,
        signed_prekey_id=bundle.signed_prekey.id,
        one_time_prekey_id=one_time_prekey_id,
        pq_prekey_id=pq_prekey_id,
        kem_ciphertext=ciphertext,
    )
    ad = encode_identity_key(sender.public_identity_key) + bundle.identity_key_x25519 + context
    used = (one_time_prekey_id, pq_prekey_id if pq_one_time else None)
    return X3DHResult(derive_shared_key(outputs, kem_secret), ad, header, used)


def _ephemeral_outputs(
    ephemeral: X25519Secret, bundle: KeyBundle, one_time_prekey_id: int | None
) -> list[bytes]:
    """DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B) and, with an OPK id, DH4 = DH(EK_A, OPK_B).

    Raises:
        PrekeyError: the OPK id is not in the bundle.
    """
    outputs = [
        ephemeral.exchange(primitives.x25519_static_public(bundle.identity_key_x25519)),
        ephemeral.exchange(primitives.x25519_static_public(bundle.signed_prekey.public)),
    ]
    if one_time_prekey_id is not None:
        opk = bundle.one_time_prekey(one_time_prekey_id)
        if opk is None:
            raise errors.PrekeyError(f"one-time prekey {one_time_prekey_id} is not in the bundle")
        outputs.append(ephemeral.exchange(opk.public))
    return outputs


def _check_header(header: X3DHHeader, recipient: Identity) -> bytes:
    """Validate header types, points and the PQ fields; return Encode(IK_A).

    Raises:
        TamperedError: a malformed key, ciphertext or field combination.
        DowngradeError: no PQ prekey id or no KEM ciphertext while the recipient has PQ.
        PrekeyError: an id of the wrong type.
    """
    if not isinstance(header, X3DHHeader):
        raise errors.TamperedError()
    keys_ok = all(
        type(key) is bytes and len(key) == 32 for key in (header.identity_key, header.ephemeral_key)
    )
    if not keys_ok or not primitives.is_valid_x25519_public(header.ephemeral_key):
        raise errors.TamperedError()
    for value, what in (
        (header.signed_prekey_id, "signed prekey"),
        (header.one_time_prekey_id, "one-time prekey"),
        (header.pq_prekey_id, "PQ prekey"),
    ):
        if type(value) is not int and (value is not None or what == "signed prekey"):
            raise errors.PrekeyError(f"{what} id must be an integer")
    ciphertext = header.kem_ciphertext
    if header.pq_prekey_id is None or ciphertext is None:
        if recipient.post_quantum:
            raise errors.DowngradeError(
                f"a classical X3DH header was sent to {recipient.name!r}, which has a "
                "post-quantum prekey; refused"
            )
        if ciphertext is not None or header.pq_prekey_id is not None:
            raise errors.TamperedError()
    elif type(ciphertext) is not bytes or len(ciphertext) != primitives.MLKEM768_CIPHERTEXT_SIZE:
        raise errors.TamperedError()
    try:
        return identity_x25519(header.identity_key)
    except errors.BundleError:
        raise errors.TamperedError() from None


def respond(
    recipient: Identity,
    header: X3DHHeader,
    *,
    context: bytes = b"",
    now: int | None = None,
    consume: bool = True,
) -> X3DHResult:
    """Run PQXDH (or classical X3DH) as the responder (Bob).

    With ``consume=True`` a used one-time prekey (classical and PQ) is deleted (durably,
    when the identity lives in a KeyStore) before this returns; callers should
    authenticate the message first so a forged header cannot burn prekeys. With
    ``consume=False`` nothing is deleted or recorded; ``result.one_time_prekeys`` names
    what a later commit must consume.

    Returns:
        SK, AD, the header (unchanged) and the one-time prekeys used.

    Raises:
        DowngradeError: a classical header while the recipient has a PQ prekey.
        PrekeyError: a prekey is unknown, retired or already used.
        TamperedError: an invalid key or KEM ciphertext in the header, or a zero DH output.
    """
    current_time = int(time.time()) if now is None else now
    encoded_a = _check_header(header, recipient)
    spk = recipient._signed_prekey_secret(header.signed_prekey_id, current_time)
    opk_id = header.one_time_prekey_id
    opk = None if opk_id is None else recipient._one_time_prekey_secret(opk_id)
    kem_secret, pq_one_time_id = None, None
    if header.pq_prekey_id is not None and header.kem_ciphertext is not None:
        kem_key, one_time = recipient._pq_prekey_secret(header.pq_prekey_id, current_time)
        kem_secret = kem_key.decapsulate(header.kem_ciphertext)
        pq_one_time_id = header.pq_prekey_id if one_time else None
    ephemeral = primitives.x25519_public_key(header.ephemeral_key)  # parsed once, used 2-3 times
    outputs = [
        spk.exchange_static(encoded_a),  # DH1 is the same for every message: memoized
        recipient._identity_secret().exchange(ephemeral),
        spk.exchange(ephemeral),
    ]
    if opk is not None:
        outputs.append(opk.exchange(ephemeral))
    shared_key = derive_shared_key(outputs, kem_secret)
    if consume and (opk_id is not None or pq_one_time_id is not None):
        recipient._consume_prekeys(opk_id, pq_one_time_id)
    ad = encoded_a + encode_identity_key(recipient.public_identity_key) + context
    return X3DHResult(shared_key, ad, header, (opk_id, pq_one_time_id))
