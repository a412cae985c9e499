"""X3DH between sealpack and python-x3dh (PyPI ``x3dh``), in both directions.

python-x3dh is configured with Ed25519 identity keys, SHA-256 and sealpack's classical
INFO (``"sealpack X3DH v2"``: what format version 2 runs for a recipient without a PQ
prekey). Its application-defined ``_encode_public_key`` is set to sealpack's choices:
Encode(IK) is the X25519 form of the identity key (this is what enters AD), and the bytes
signed for a signed prekey are sealpack's version-2 encoding (name, id, key, times,
has_pq_prekey = 0). python-x3dh does not sign one-time prekeys; the test signs the
peer's with its identity seed so that they form a valid sealpack bundle version 2.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sealpack import primitives, x3dh
from sealpack.keys import Identity, KeyBundle, OneTimePrekeyPublic, SignedPrekeyPublic
from sealpack.keys.prekeys import one_time_prekey_message, signed_prekey_message

pyx3dh: Any = pytest.importorskip("x3dh")

NOW = 1_700_000_000
PEER_SPK = (7, NOW - 10, NOW + 86400)  # id, created, expires of python-x3dh's signed prekey
KNOWN_SPKS: dict[bytes, tuple[str, int, int, int]] = {}


class PeerState(pyx3dh.BaseState):  # type: ignore[misc]
    @staticmethod
    def _encode_public_key(key_format: Any, pub: bytes) -> bytes:
        if key_format is pyx3dh.IdentityKeyFormat.ED_25519:
            return x3dh.encode_identity_key(pub)
        name, prekey_id, created, expires = KNOWN_SPKS.get(pub, ("peer", *PEER_SPK))
        return signed_prekey_message(name, prekey_id, pub, created, expires, False)


def _peer(n_prekeys: int) -> Any:
    state = PeerState.create(
        pyx3dh.IdentityKeyFormat.ED_25519, pyx3dh.HashFunction.SHA_256, x3dh.INFO
    )
    state.generate_pre_keys(n_prekeys)
    return state


def _peer_as_sealpack_bundle(state: Any) -> tuple[KeyBundle, dict[int, bytes]]:
    bundle = state.bundle
    prekey_id, created, expires = PEER_SPK
    spk = SignedPrekeyPublic(
        prekey_id, bundle.signed_pre_key, created, expires, bundle.signed_pre_key_sig
    )
    ids = {i + 1: pub for i, pub in enumerate(sorted(bundle.pre_keys))}
    seed = state.model.identity_key.secret
    opks = tuple(
        OneTimePrekeyPublic(
            i, pub, primitives.ed25519_sign(seed, one_time_prekey_message("peer", i, pub))
        )
        for i, pub in ids.items()
    )
    return KeyBundle("peer", bundle.identity_key, spk, opks), ids


@pytest.mark.parametrize("use_opk", [True, False])
@pytest.mark.parametrize("context", [b"", b"ctx-appendix"])
def test_sealpack_initiates_python_x3dh_responds(use_opk: bool, context: bytes) -> None:
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    peer = _peer(3)
    bundle, ids = _peer_as_sealpack_bundle(peer)
    opk_id = 2 if use_opk else None
    sent = x3dh.initiate(
        alice, bundle, one_time_prekey_id=opk_id, pq_prekey_id=None, context=context, now=NOW
    )
    header = pyx3dh.Header(
        identity_key=sent.header.identity_key,
        ephemeral_key=sent.header.ephemeral_key,
        signed_pre_key=bundle.signed_prekey.public,
        pre_key=ids[2] if use_opk else None,
    )
    sk, ad, _ = asyncio.run(
        peer.get_shared_secret_passive(header, context, require_pre_key=use_opk)
    )
    assert sk == sent.shared_key
    assert ad == sent.associated_data


@pytest.mark.parametrize("use_opk", [True, False])
@pytest.mark.parametrize("context", [b"", b"ctx-appendix"])
def test_python_x3dh_initiates_sealpack_responds(use_opk: bool, context: bytes) -> None:
    bob = Identity.generate(
        "bob", one_time_prekeys=1 if use_opk else 0, post_quantum=False, now=NOW
    )
    ours = bob.bundle()
    spk = ours.signed_prekey
    KNOWN_SPKS[spk.public] = ("bob", spk.id, spk.created, spk.expires)
    peer_bundle = pyx3dh.Bundle(
        identity_key=ours.identity_key,
        signed_pre_key=spk.public,
        signed_pre_key_sig=spk.signature,
        pre_keys=frozenset(p.public for p in ours.one_time_prekeys),
    )
    alice = _peer(0)
    sk, ad, header = asyncio.run(
        alice.get_shared_secret_active(peer_bundle, context, require_pre_key=use_opk)
    )
    opk_ids = {p.public: p.id for p in ours.one_time_prekeys}
    ours_header = x3dh.X3DHHeader(
        identity_key=header.identity_key,
        ephemeral_key=header.ephemeral_key,
        signed_prekey_id=spk.id,
        one_time_prekey_id=None if header.pre_key is None else opk_ids[header.pre_key],
    )
    assert (ours_header.one_time_prekey_id is not None) == use_opk
    got = x3dh.respond(bob, ours_header, context=context, now=NOW)
    assert got.shared_key == sk
    assert got.associated_data == ad
    if use_opk:
        assert bob.one_time_prekey_ids() == []


def test_python_x3dh_signature_checks_our_signed_prekey_encoding() -> None:
    """A bundle whose prekey signature covers other times fails python-x3dh's check too."""
    bob = Identity.generate("bob2", one_time_prekeys=0, post_quantum=False, now=NOW)
    spk = bob.bundle().signed_prekey
    KNOWN_SPKS[spk.public] = ("bob2", spk.id, spk.created, spk.expires + 1)
    peer_bundle = pyx3dh.Bundle(bob.public_identity_key, spk.public, spk.signature, frozenset())
    with pytest.raises(pyx3dh.KeyAgreementException):
        asyncio.run(_peer(0).get_shared_secret_active(peer_bundle, b"", require_pre_key=False))
