"""Named attacks from the threat model (SECURITY.md), each through the public API.

Every attack has a control showing the construction is otherwise sound, so a pass
means the named defence stopped it, not a mistake in the attack.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest

from sealpack import api, errors, primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import opener, sealer, stream, suite
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.replay import RETENTION_SLACK
from sealpack.serialization import Codec
from sealpack.serialization.frame import build_frame
from sealpack.serialization.wire import PACK_OPTIONS, Ext
from tests.adversarial.harness import reject
from tests.adversarial.samples import (
    NOW,
    Point,
    codec,
    frame_header,
    raw_sections,
    sign_blob,
    split,
)

OBJ = {"weights": list(range(50)), "note": "attack-at-dawn"}


def _identity(name: str, opks: int = 0) -> Identity:
    return Identity.generate(name, one_time_prekeys=opks, now=NOW - 60)


def _seal(sender: Identity, *recipients: KeyBundle, obj: Any = OBJ, **kw: Any) -> bytes:
    return api.seal(obj, sender=sender, recipients=list(recipients), now=NOW, **kw)


def _open(blob: bytes, recipient: Identity | KeyStore, *senders: KeyBundle, **kw: Any) -> Any:
    kw.setdefault("now", NOW)
    return api.unseal(blob, recipient=recipient, senders=list(senders), **kw)


def _steal_plaintext(thief: Identity, blob: bytes) -> bytes:
    """Decrypt with the recipient's private keys, bypassing every check but the crypto."""
    header, payload, _ = split(blob)
    content_key = opener.content_key_for(header, thief, NOW)
    return stream.decrypt(
        content_key,
        payload,
        context=suite.payload_context(header.core_bytes),
        chunk_size=header.core.chunk_size,
    )


# --- confidentiality and injection ------------------------------------------------


def test_passive_reader_and_non_recipient_learn_nothing() -> None:
    alice, bob, eve = _identity("alice"), _identity("bob"), _identity("eve")
    blob = _seal(alice, bob.bundle())
    assert b"attack-at-dawn" not in blob
    reject(lambda: _open(blob, eve, alice.bundle()), errors.NotARecipientError)
    assert _open(blob, bob, alice.bundle()) == OBJ


def test_injected_blob_from_untrusted_sender_burns_no_prekeys() -> None:
    """Draining one-time prekeys needs a trusted sender: the signature is checked first."""
    alice, bob, mallory = _identity("alice"), _identity("bob", opks=3), _identity("mallory")
    before = bob.one_time_prekey_ids()
    for _ in range(3):
        blob = _seal(mallory, bob.bundle())
        assert api.inspect(blob).recipients[0].one_time_prekey_id is not None
        reject(lambda b=blob: _open(b, bob, alice.bundle()), errors.UnknownSenderError)
        # Mallory claiming to be Alice: her key signs, so Alice's key cannot verify.
        header, payload, _ = split(blob)
        core, stanzas = raw_sections(header)
        core["sender"] = alice.public_identity_key
        forged = sign_blob(frame_header(core, stanzas), payload, mallory)
        reject(lambda f=forged: _open(f, bob, alice.bundle()), errors.TamperedError)
    assert bob.one_time_prekey_ids() == before


# --- key-compromise impersonation -----------------------------------------------------


def _forge_as(claimed: Identity, victim: Identity, signer: Identity) -> bytes:
    """Build a blob 'from' ``claimed`` to ``victim`` using only the victim's private keys.

    This is the X3DH key-compromise-impersonation construction: DH1 = DH(IK_A, SPK_B) is
    computed from the SPK private key instead of IK_A's. Only the signature is left.
    """
    frame = codec().dumps({"forged": True})
    rng = os.urandom
    core = hdr.Core(
        claimed.public_identity_key,
        rng(16),
        NOW,
        NOW + 3600,
        "application/x-sealpack-codec",
        {},
        len(frame),
        1024,
    )
    core_bytes = hdr.encode_core(core)
    content_key = rng(32)
    payload = stream.encrypt(
        content_key, frame, context=suite.payload_context(core_bytes), chunk_size=1024
    )
    spk_id = victim.signed_prekey_id
    claimed_x = x3dh.encode_identity_key(claimed.public_identity_key)
    victim_x = x3dh.encode_identity_key(victim.public_identity_key)
    ephemeral = rng(32)
    outputs = [
        victim._signed_prekey_secret(spk_id, NOW).exchange(claimed_x),
        primitives.x25519(ephemeral, victim_x),
        primitives.x25519(ephemeral, victim.bundle().signed_prekey.public),
    ]
    pq_prekey = victim.bundle().pq_prekey
    assert pq_prekey is not None
    kem_secret, kem_ciphertext = primitives.mlkem768_encapsulate(pq_prekey.public)
    shared = x3dh.derive_shared_key(outputs, kem_secret)
    ad = claimed_x + victim_x + suite.stanza_context(core_bytes)
    stanza = hdr.Stanza(
        victim.key_id,
        spk_id,
        None,
        pq_prekey.id,
        primitives.x25519_public_from_private(ephemeral),
        kem_ciphertext,
        suite.wrap_content_key(shared, ad, content_key),
    )
    return sign_blob(hdr.encode_header(core_bytes, [stanza]), payload, signer)


def test_kci_holder_of_recipient_keys_cannot_impersonate_a_sender() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    forged = _forge_as(alice, bob, signer=bob)  # the attacker holds all of Bob's keys
    reject(lambda: _open(forged, bob, alice.bundle()), errors.TamperedError)
    # Control: with Alice's signature the same construction opens, so the X3DH part
    # of the forgery is perfect and the sender signature alone defeats KCI.
    assert _open(_forge_as(alice, bob, signer=alice), bob, alice.bundle()) == {"forged": True}


# --- replay ---------------------------------------------------------------------------


def test_replay_of_an_accepted_blob() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle())  # no one-time prekeys: the replay guard decides
    assert _open(blob, bob, alice.bundle()) == OBJ
    reject(lambda: _open(blob, bob, alice.bundle()), errors.ReplayError)


def _store(tmp_path: Path, name: str, opks: int) -> KeyStore:
    return KeyStore.create(
        tmp_path / name, _identity(name, opks), passphrase=b"correct horse", scrypt_n=2**10
    )


def test_replay_after_restart(tmp_path: Path) -> None:
    alice = _identity("alice")
    store = _store(tmp_path, "bob", opks=1)
    bundle = store.identity.bundle()
    with_opk, spk_only = _seal(alice, bundle), _seal(alice, bundle)
    assert api.inspect(with_opk).recipients[0].one_time_prekey_id is not None
    assert api.inspect(spk_only).recipients[0].one_time_prekey_id is None
    assert _open(with_opk, store, alice.bundle()) == OBJ
    assert _open(spk_only, store, alice.bundle()) == OBJ
    store.close()
    with KeyStore.open(tmp_path / "bob", passphrase=b"correct horse") as reopened:
        reject(lambda: _open(with_opk, reopened, alice.bundle()), errors.ReplayError)
        reject(lambda: _open(spk_only, reopened, alice.bundle()), errors.ReplayError)


def test_replay_window_outlives_validity_window() -> None:
    """An id is forgotten only after the blob could no longer be accepted anyway."""
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle(), expires_in=60)
    assert _open(blob, bob, alice.bundle()) == OBJ
    late = NOW + 60 + api.DEFAULT_CLOCK_SKEW
    reject(lambda: _open(blob, bob, alice.bundle(), now=late), errors.ReplayError)
    reject(lambda: _open(blob, bob, alice.bundle(), now=late + 1), errors.ExpiredError)


def test_one_time_prekey_reuse_is_refused() -> None:
    """Two senders (or a bundle server handing out one OPK twice) use the same OPK."""
    alice, carol, bob = _identity("alice"), _identity("carol"), _identity("bob", opks=1)
    claimed = bob.bundle()
    first = api.seal(OBJ, sender=alice, recipients=[claimed], now=NOW)
    second_options = sealer.SealOptions()
    second = bytes(
        sealer.seal_buffers(
            codec().dumps_buffers(OBJ),
            sender=carol,
            recipients=[claimed],
            options=second_options,
            now=NOW,
        )
    )
    opk = api.inspect(first).recipients[0].one_time_prekey_id
    assert opk is not None and api.inspect(second).recipients[0].one_time_prekey_id == opk
    assert _open(first, bob, alice.bundle()) == OBJ
    reject(lambda: _open(second, bob, carol.bundle()), errors.PrekeyError)


# --- multi-recipient insiders and moved stanzas -------------------------------------------


def test_insider_forgery_in_a_multi_recipient_blob() -> None:
    """Bob (a recipient) knows the content key; Carol must still refuse his edits."""
    alice, bob, carol = _identity("alice"), _identity("bob"), _identity("carol")
    blob = _seal(alice, bob.bundle(), carol.bundle())
    header, payload, signature = split(blob)
    stanza = header.stanzas[0]
    assert stanza.recipient_key_id == bob.key_id
    frame = _steal_plaintext(bob, blob)  # Bob legitimately decrypts
    assert codec().loads(frame) == OBJ
    evil = frame.replace(b"attack-at-dawn", b"retreat-now!!!")
    key = opener.content_key_for(header, bob, NOW)
    forged_payload = stream.encrypt(
        key,
        evil,
        context=suite.payload_context(header.core_bytes),
        chunk_size=header.core.chunk_size,
    )
    forged = header.header_bytes + forged_payload + signature
    reject(lambda: _open(forged, carol, alice.bundle()), errors.TamperedError)
    # Dropping his own stanza and re-signing as Bob makes it Bob's blob, not Alice's.
    core, stanzas = raw_sections(header)
    resigned = sign_blob(frame_header(core, stanzas[1:]), payload, bob)
    reject(lambda: _open(resigned, carol, alice.bundle()), errors.TamperedError)
    assert _open(blob, carol, alice.bundle()) == OBJ


def test_recipient_stanza_moved_between_blobs() -> None:
    """Bob's stanza from blob 1 spliced into blob 2, even re-signed by the same sender."""
    alice, bob = _identity("alice"), _identity("bob")
    first, second = _seal(alice, bob.bundle()), _seal(alice, bob.bundle())
    header_1 = split(first)[0]
    header_2, payload_2, _ = split(second)
    core_2, _ = raw_sections(header_2)
    _, stanzas_1 = raw_sections(header_1)
    spliced = sign_blob(frame_header(core_2, stanzas_1), payload_2, alice)
    reject(lambda: _open(spliced, bob, alice.bundle()), errors.TamperedError)
    assert _open(second, bob, alice.bundle()) == OBJ


def test_downgrade_by_version_byte() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle())
    assert blob[8] == hdr.VERSION
    for version in (0, hdr.VERSION + 1, 255):
        downgraded = blob[:8] + bytes([version]) + blob[9:]
        reject(lambda d=downgraded: _open(d, bob, alice.bundle()), errors.UnsupportedVersionError)
    # The version byte is inside the signed header bytes: no re-labelling survives.
    header = split(blob)[0]
    assert header.header_bytes[8] == hdr.VERSION


# --- bundles and pinning -------------------------------------------------------------


def test_bundle_with_forged_prekey_signature() -> None:
    bob, mallory = _identity("bob"), _identity("mallory")
    genuine = bob.bundle()
    swapped = dataclasses.replace(
        genuine.signed_prekey, public=mallory.bundle().signed_prekey.public
    )
    reject(lambda: KeyBundle(genuine.name, genuine.identity_key, swapped), errors.BundleError)
    resigned = mallory.bundle().signed_prekey  # signed, but by Mallory's identity key
    reject(lambda: KeyBundle(genuine.name, genuine.identity_key, resigned), errors.BundleError)
    text = genuine.to_json().replace(
        genuine.signed_prekey.public.hex(), mallory.bundle().signed_prekey.public.hex()
    )
    reject(lambda: KeyBundle.from_json(text, now=NOW), errors.BundleError)


def test_stale_bundle_with_expired_prekey() -> None:
    alice = _identity("alice")
    bob = Identity.generate("bob", one_time_prekeys=0, now=NOW - 100, signed_prekey_lifetime=50)
    stale = bob.bundle()
    reject(lambda: KeyBundle.from_json(stale.to_json(), now=NOW), errors.BundleError)
    reject(lambda: _seal(alice, stale), errors.PrekeyError)
    assert KeyBundle.from_json(stale.to_json(), now=NOW - 60) == stale


def test_identity_change_of_a_pinned_peer(tmp_path: Path) -> None:
    alice, impostor = _identity("alice"), _identity("alice")
    store = _store(tmp_path, "bob", opks=0)
    bob_bundle = store.identity.bundle()
    assert _open(_seal(alice, bob_bundle), store, alice.bundle()) == OBJ  # pins "alice"
    blob = _seal(impostor, bob_bundle)
    reject(lambda: _open(blob, store, impostor.bundle()), errors.UntrustedSenderError)
    serializer = api.SecureSerializer(store)
    reject(lambda: serializer.add_peer(impostor.bundle()), errors.IdentityChangedError)
    store.trust_store.accept(impostor.bundle())  # after an out-of-band check
    assert _open(blob, store, impostor.bundle()) == OBJ
    store.close()


# --- payloads that name code ---------------------------------------------------------------


def _frame_naming(type_name: str, data: Any) -> bytes:
    types = msgpack.packb([type_name], **PACK_OPTIONS)
    body = msgpack.packb(
        msgpack.ExtType(Ext.CUSTOM, msgpack.packb([0, data], **PACK_OPTIONS)), **PACK_OPTIONS
    )
    return b"".join(build_frame(types, body, []))


@pytest.mark.parametrize(
    "type_name",
    ["os.system", "posix.system", "builtins.eval", "subprocess.Popen", "pickle.loads"],
)
def test_payload_naming_code_is_refused_without_import(type_name: str) -> None:
    frame = _frame_naming(type_name, ["touch /tmp/sealpack-pwned"])
    module = type_name.split(".")[0]
    was_loaded = module in sys.modules
    reject(lambda: codec().loads(frame), errors.UnknownTypeError)
    assert (module in sys.modules) == was_loaded
    # Sealed by a trusted sender it is verified, then refused the same way.
    alice, bob = _identity("alice"), _identity("bob")
    blob = bytes(
        sealer.seal_buffers(
            [frame], sender=alice, recipients=[bob.bundle()], options=sealer.SealOptions(), now=NOW
        )
    )
    reject(lambda: _open(blob, bob, alice.bundle(), codec=codec()), errors.UnknownTypeError)
    assert not Path("/tmp/sealpack-pwned").exists()


def test_dataclass_the_receiver_never_registered() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle(), obj=[Point(1, 2.0)], codec=codec())
    receiver = Codec()  # registered nothing; encoding it somewhere else does not count
    reject(lambda: _open(blob, bob, alice.bundle(), codec=receiver), errors.UnknownTypeError)


# --- delivery: delay, reorder, drop ------------------------------------------------------


def test_delay_and_reorder() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    first = _seal(alice, bob.bundle(), obj=1, expires_in=600)
    second = _seal(alice, bob.bundle(), obj=2, expires_in=600)
    assert _open(second, bob, alice.bundle()) == 2  # reordered: each blob stands alone
    late = NOW + 600 + api.DEFAULT_CLOCK_SKEW + 1
    reject(lambda: _open(first, bob, alice.bundle(), now=late), errors.ExpiredError)
    assert _open(first, bob, alice.bundle(), now=NOW + 599) == 1


# --- forward secrecy and deniability ---------------------------------------------------------


def test_forward_secrecy_with_one_time_prekey(tmp_path: Path) -> None:
    alice = _identity("alice")
    store = _store(tmp_path, "bob", opks=1)
    blob = _seal(alice, store.identity.bundle())
    assert _open(blob, store, alice.bundle()) == OBJ
    store.close()
    # Later, the thief gets the key store and its passphrase: the OPK is gone.
    with KeyStore.open(tmp_path / "bob", passphrase=b"correct horse") as stolen:
        reject(lambda: _steal_plaintext(stolen.identity, blob), errors.PrekeyError)


def test_no_forward_secrecy_without_one_time_prekey_until_rotation() -> None:
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle())
    assert _open(blob, bob, alice.bundle()) == OBJ
    # A thief holding Bob's keys before the signed prekey is retired reads old blobs.
    assert codec().loads(_steal_plaintext(bob, blob)) == OBJ
    bob.rotate_signed_prekey(grace_period=0, now=NOW)
    bob.purge_expired(now=NOW + 1)
    reject(lambda: _steal_plaintext(bob, blob), errors.PrekeyError)


def test_no_deniability_the_signature_is_transferable() -> None:
    """Anyone holding only Alice's public bundle can check that Alice sealed the blob."""
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle())
    header, payload, signature = split(blob)
    message = suite.signed_message(header.header_bytes, suite.payload_digest(payload))
    assert primitives.ed25519_verify(alice.bundle().identity_key, signature, message)
    assert not primitives.ed25519_verify(bob.bundle().identity_key, signature, message)


def test_replay_with_a_large_clock_skew() -> None:
    """A skew beyond the replay store's retention slack is refused outright; with the
    largest allowed skew the id is still remembered while the blob is valid."""
    alice, bob = _identity("alice"), _identity("bob")
    blob = _seal(alice, bob.bundle(), expires_in=60)
    skew = 2 * 86400
    reject(lambda: _open(blob, bob, alice.bundle(), clock_skew=skew), errors.SealArgumentError)
    reject(lambda: _open(blob, bob, alice.bundle(), clock_skew=-1), errors.SealArgumentError)
    skew = RETENTION_SLACK
    assert _open(blob, bob, alice.bundle(), clock_skew=skew) == OBJ
    last_valid = NOW + 60 + skew
    for now in (NOW, last_valid):
        reject(
            lambda now=now: _open(blob, bob, alice.bundle(), now=now, clock_skew=skew),
            errors.ReplayError,
        )
    reject(
        lambda: _open(blob, bob, alice.bundle(), now=last_valid + 1, clock_skew=skew),
        errors.ExpiredError,
    )
