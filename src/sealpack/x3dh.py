"""X3DH key agreement (Signal's specification, revision 1), as pure functions.

Parameters: curve X25519, hash SHA-256, info ``INFO``; identity keys are Ed25519 keys
whose X25519 form is used for DH (see docs/spec/keys.md).

    DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
    DH4 = DH(EK_A, OPK_B)   (only when a one-time prekey is used)
    SK  = HKDF-SHA256(ikm = 0xFF * 32 || DH1 || DH2 || DH3 [|| DH4],
                      salt = 0x00 * 32, info = INFO, length = 32)
    AD  = Encode(IK_A) || Encode(IK_B) || context

Encode(IK) is the 32-byte X25519 (Montgomery u) form of the Ed25519 identity key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sealpack import errors, primitives
from sealpack.keys.bundle import KeyBundle, identity_x25519
from sealpack.keys.identity import Identity

__all__ = ["INFO", "X3DHHeader", "X3DHResult", "encode_identity_key", "initiate", "respond"]

INFO = b"sealpack X3DH v1"
_SALT = bytes(32)
_PAD = b"\xff" * 32


@dataclass(frozen=True)
class X3DHHeader:
    """What the initiator sends so the responder can derive the same key."""

    identity_key: bytes
    ephemeral_key: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None


@dataclass(frozen=True)
class X3DHResult:
    """The shared key SK (hidden from repr), the associated data AD and the header."""

    shared_key: bytes = field(repr=False)
    associated_data: bytes
    header: X3DHHeader


def encode_identity_key(identity_key: bytes) -> bytes:
    """Encode(IK): the X25519 form of an Ed25519 identity key (32 bytes).

    Raises:
        BundleError: the key is not a valid point of large order.
    """
    return identity_x25519(identity_key)


def _derive(dh_outputs: list[bytes]) -> bytes:
    ikm = _PAD + b"".join(dh_outputs)
    return primitives.hkdf_sha256(ikm, salt=_SALT, info=INFO, length=32)


def initiate(
    sender: Identity,
    bundle: KeyBundle,
    *,
    one_time_prekey_id: int | None,
    context: bytes = b"",
    rng: primitives.Rng | None = None,
    now: int | None = None,
) -> X3DHResult:
    """Run X3DH as the initiator (Alice) against a verified bundle.

    Args:
        sender: the initiator's identity.
        bundle: the responder's verified bundle.
        one_time_prekey_id: an OPK id from the bundle, or None for SPK only.
        context: bytes appended to AD.
        rng: source of the ephemeral key (32 bytes drawn).
        now: current time; the bundle's signed prekey must not be expired.

    Returns:
        SK, AD and the header to send.

    Raises:
        PrekeyError: the signed prekey has expired or the OPK id is not in the bundle.
    """
    if bundle.is_expired(now=now):
        raise errors.PrekeyError(f"signed prekey of {bundle.name!r} has expired")
    dh1 = sender._identity_secret().exchange(bundle.signed_prekey.public)
    ephemeral = primitives.random_bytes(32, rng=rng)
    outputs = [dh1, *_ephemeral_outputs(ephemeral, bundle, one_time_prekey_id)]
    header = X3DHHeader(
        identity_key=sender.public_identity_key,
        ephemeral_key=primitives.x25519_public_from_private(ephemeral),
        signed_prekey_id=bundle.signed_prekey.id,
        one_time_prekey_id=one_time_prekey_id,
    )
    ad = encode_identity_key(sender.public_identity_key) + bundle.identity_key_x25519 + context
    return X3DHResult(_derive(outputs), ad, header)


def _ephemeral_outputs(
    ephemeral: bytes, bundle: KeyBundle, one_time_prekey_id: int | None
) -> list[bytes]:
    """DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B) and, with an OPK id, DH4 = DH(EK_A, OPK_B).

    Raises:
        PrekeyError: the OPK id is not in the bundle.
    """
    outputs = [
        primitives.x25519(ephemeral, bundle.identity_key_x25519),
        primitives.x25519(ephemeral, bundle.signed_prekey.public),
    ]
    if one_time_prekey_id is not None:
        opk = bundle.one_time_prekey(one_time_prekey_id)
        if opk is None:
            raise errors.PrekeyError(f"one-time prekey {one_time_prekey_id} is not in the bundle")
        outputs.append(primitives.x25519(ephemeral, opk.public))
    return outputs


def _check_header(header: X3DHHeader) -> bytes:
    """Validate header types and points; return Encode(IK_A). TamperedError otherwise."""
    if not isinstance(header, X3DHHeader):
        raise errors.TamperedError()
    keys_ok = all(
        type(key) is bytes and len(key) == 32 for key in (header.identity_key, header.ephemeral_key)
    )
    if not keys_ok or not primitives.is_valid_x25519_public(header.ephemeral_key):
        raise errors.TamperedError()
    if type(header.signed_prekey_id) is not int:
        raise errors.PrekeyError("signed prekey id must be an integer")
    opk_id = header.one_time_prekey_id
    if opk_id is not None and type(opk_id) is not int:
        raise errors.PrekeyError("one-time prekey id must be an integer or None")
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
) -> X3DHResult:
    """Run X3DH as the responder (Bob).

    A used one-time prekey is deleted (durably, when the identity lives in a KeyStore)
    before this returns; callers should authenticate the message first so a forged
    header cannot burn prekeys.

    Returns:
        SK and AD (and the header, unchanged).

    Raises:
        PrekeyError: the signed prekey is unknown/retired or the OPK unknown/already used.
        TamperedError: an invalid key in the header or an all-zero DH output.
    """
    current_time = int(time.time()) if now is None else now
    encoded_a = _check_header(header)
    spk = recipient._signed_prekey_secret(header.signed_prekey_id, current_time)
    opk_id = header.one_time_prekey_id
    opk = None if opk_id is None else recipient._one_time_prekey_secret(opk_id)
    outputs = [
        spk.exchange(encoded_a),
        recipient._identity_secret().exchange(header.ephemeral_key),
        spk.exchange(header.ephemeral_key),
    ]
    if opk is not None and opk_id is not None:
        outputs.append(opk.exchange(header.ephemeral_key))
        recipient._consume_one_time_prekey(opk_id)
    ad = encoded_a + encode_identity_key(recipient.public_identity_key) + context
    return X3DHResult(_derive(outputs), ad, header)
