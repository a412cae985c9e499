"""Per-recipient key agreement of envelope version 2: build a stanza, or answer one.

Sealing to a bundle that carries a PQ prekey runs PQXDH (X25519 + ML-KEM-768): the
sender takes the first PQ one-time prekey it has not used for that recipient (its
``prekey_usage`` record, ``take(..., pq=True)``: PQ ids counted apart), else the PQ
last-resort prekey. A bundle without a PQ prekey gets classical X3DH only with
``allow_classical=True`` (else DowngradeError). Opening refuses a classical stanza
when the recipient holds a PQ prekey (DowngradeError), and answers with
``consume=False``: which one-time prekeys were used is returned, and the caller
consumes them in its one commit after everything verified.
"""

from __future__ import annotations

from sealpack import errors, primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import suite
from sealpack.envelope.delivery import UsedPrekeys
from sealpack.keys import Identity, KeyBundle

__all__ = ["content_key_for", "make_stanza", "refuse_downgrade", "stanza_of"]


def _classical_ids(sender: Identity, bundle: KeyBundle, one_time_prekey: bool) -> int | None:
    candidates = [prekey.id for prekey in bundle.one_time_prekeys]
    if not one_time_prekey or not candidates:
        return None
    return sender.prekey_usage.take(bundle.identity_key, candidates)


def refuse_downgrade(bundles: list[KeyBundle]) -> None:
    """Refuse, before anything is drawn or taken, a bundle without a PQ prekey.

    Raises:
        DowngradeError: names the first such bundle and the ``allow_classical`` switch.
    """
    for bundle in bundles:
        if bundle.pq_prekey is None:
            raise errors.DowngradeError(
                f"the bundle of {bundle.name!r} has no post-quantum prekey; seal with "
                "allow_classical=True to accept classical X3DH for it"
            )


def _pq_id(sender: Identity, bundle: KeyBundle, one_time_prekey: bool, allow: bool) -> int | None:
    """The PQ prekey to encapsulate to, or None (classical; DowngradeError unless allowed)."""
    last_resort = bundle.pq_prekey
    if last_resort is None:
        if not allow:
            refuse_downgrade([bundle])
        return None
    candidates = [prekey.id for prekey in bundle.pq_one_time_prekeys]
    if one_time_prekey and candidates:
        chosen = sender.prekey_usage.take(bundle.identity_key, candidates, pq=True)
        if chosen is not None:
            return chosen
    return last_resort.id


def make_stanza(
    sender: Identity,
    bundle: KeyBundle,
    context: bytes,
    content_key: bytes,
    *,
    one_time_prekey: bool,
    allow_classical: bool,
    rng: primitives.Rng | None,
    now: int,
) -> hdr.Stanza:
    """Run PQXDH (or allowed classical X3DH) to ``bundle`` and wrap the content key.

    Raises:
        DowngradeError: no PQ prekey in the bundle and classical not allowed.
        PrekeyError: the bundle's signed prekey expired.
    """
    pq_id = _pq_id(sender, bundle, one_time_prekey, allow_classical)
    opk_id = _classical_ids(sender, bundle, one_time_prekey)
    agreed = x3dh.initiate(
        sender,
        bundle,
        one_time_prekey_id=opk_id,
        pq_prekey_id=pq_id,
        context=context,
        rng=rng,
        now=now,
    )
    sent = agreed.header
    return hdr.Stanza(
        bundle.key_id,
        sent.signed_prekey_id,
        sent.one_time_prekey_id,
        sent.pq_prekey_id,
        sent.ephemeral_key,
        sent.kem_ciphertext,
        suite.wrap_content_key(agreed.shared_key, agreed.associated_data, content_key),
    )


def stanza_of(header: hdr.Header, recipient: Identity) -> hdr.Stanza:
    """This recipient's stanza.

    Raises:
        NotARecipientError: the blob has no stanza for this identity.
        DowngradeError: the stanza is classical while this recipient holds a PQ prekey.
    """
    stanza = header.stanza_for(recipient.key_id)
    if stanza is None:
        raise errors.NotARecipientError(f"this sealed blob is not addressed to {recipient.name!r}")
    if not stanza.hybrid and recipient.post_quantum:
        raise errors.DowngradeError(
            f"a classical (non post-quantum) stanza was sealed to {recipient.name!r}, "
            "which publishes a post-quantum prekey; refused"
        )
    return stanza


def content_key_for(header: hdr.Header, recipient: Identity, now: int) -> tuple[bytes, UsedPrekeys]:
    """Answer this recipient's stanza (consuming nothing) and unwrap the content key.

    Returns:
        The content key and the one-time prekeys the stanza used.

    Raises:
        NotARecipientError, DowngradeError: as :func:`stanza_of`.
        PrekeyError: a named prekey is unknown, retired or already used.
        TamperedError: an invalid key or KEM ciphertext, or the wrapped key fails.
    """
    stanza = stanza_of(header, recipient)
    sent = x3dh.X3DHHeader(
        header.core.sender_key,
        stanza.ephemeral_key,
        stanza.signed_prekey_id,
        stanza.one_time_prekey_id,
        pq_prekey_id=stanza.pq_prekey_id,
        kem_ciphertext=stanza.kem_ciphertext,
    )
    agreed = x3dh.respond(
        recipient, sent, context=suite.stanza_context(header.core_bytes), now=now, consume=False
    )
    key = suite.unwrap_content_key(agreed.shared_key, agreed.associated_data, stanza.wrapped_key)
    one_time, pq_one_time = agreed.one_time_prekeys  # the PQ last-resort prekey is never listed
    return key, UsedPrekeys(one_time, pq_one_time)
