"""ServerApp side of the key handshake that binds a Flower node id to a trusted identity.

The server sends each new node a random challenge and its own current bundle
(``query.sealpack_hello``). The node answers with a blob sealed to that bundle (once
its identity matched the pin) carrying its own current bundle; run, node and challenge
are in the signed metadata. The answer is opened only with the trusted bundle named by
the node and only in that context; the fresh bundle must carry the pinned identity key
and stay valid for the run's horizon, and it must carry a post-quantum prekey (the
server seals with PQXDH only: a bundle it could never seal to is refused here, never
bound); one identity binds one node, and a node that is handshaken again (its bundle
about to expire) must prove the same identity.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from flwr.app import ConfigRecord, Message, RecordDict

from sealpack.errors import DowngradeError
from sealpack.integrations.flower.binding import hello_metadata, open_bound, valid_until
from sealpack.integrations.flower.client import HELLO_MESSAGE_TYPE
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.schema import HelloPayload
from sealpack.integrations.flower.wire import (
    HELLO_RECORD,
    WIRE_VERSION,
    check_payload,
    unwrap_blob,
)
from sealpack.keys import Identity, KeyBundle, KeyStore

__all__ = ["CHALLENGE_SIZE", "HelloCheck", "hello_message", "verify_hello"]

CHALLENGE_SIZE = 32


def hello_message(
    node: int, challenge: bytes, server_bundle_json: str, valid_until: int = 0
) -> Message:
    """The (public) handshake instruction for ``node``.

    Args:
        node: Destination Flower node id.
        challenge: Fresh random bytes the node must seal back.
        server_bundle_json: The ServerApp's current bundle.
        valid_until: Until when the node's bundle must stay valid (a hint: an honest
            node rotates its signed prekey if it would not; the server checks anyway).

    Returns:
        A ``query.sealpack_hello`` Message.
    """
    record = ConfigRecord(
        {
            "v": WIRE_VERSION,
            "challenge": challenge,
            "server-bundle": server_bundle_json,
            "valid-until": valid_until,
        }
    )
    return Message(RecordDict({HELLO_RECORD: record}), node, HELLO_MESSAGE_TYPE)


@dataclass(frozen=True)
class HelloCheck:
    """What a hello answer from one node must prove."""

    challenge: bytes
    run_id: int
    valid_until: int  # the fresh bundle must stay valid at least until then (epoch s)


def verify_hello(
    reply: Message,
    check: HelloCheck,
    *,
    keys: Identity | KeyStore,
    trusted: Mapping[str, KeyBundle],
    bound: Mapping[int, KeyBundle],
) -> tuple[KeyBundle, int]:
    """Check a node's handshake answer and return the bundle to bind to it.

    Args:
        reply: The node's answer to :func:`hello_message`.
        check: The challenge sent, the run, and the validity horizon.
        keys: The ServerApp's identity or KeyStore.
        trusted: Trusted client bundles (pins) by name.
        bound: Node ids already bound, and their bundles.

    Returns:
        ``(fresh bundle of the node's identity, sealed blob size)``.

    Raises:
        RefusedMessageError: Untrusted name, foreign bundle, a bundle expiring within the
            horizon, an identity bound to another node, or another identity than this
            node proved before.
        DowngradeError: The fresh bundle has no post-quantum prekey (issue 19.12: it
            could never be sealed to).
        ContextMismatchError: Wrong run, node or challenge (nothing recorded).
        SealpackError: The answer is tampered, badly signed, expired or replayed.
    """
    node = reply.metadata.src_node_id
    blob, name = unwrap_blob(reply.content, kind="hello")
    pinned = trusted.get(name)
    if pinned is None:
        raise RefusedMessageError("hello from an identity that is not trusted")
    expect = hello_metadata(check.run_id, node, check.challenge)
    payload, _ = open_bound(blob, recipient=keys, sender=pinned, expect=expect, shape=HelloPayload)
    fresh = _fresh_bundle(check_payload(payload, kind="hello"), pinned)
    if fresh.pq_prekey is None:
        raise DowngradeError("hello bundle has no post-quantum prekey (sealing needs PQXDH)")
    if valid_until(fresh) < check.valid_until:
        raise RefusedMessageError("hello bundle expires within the run's horizon")
    previous = bound.get(node)
    if previous is not None and not hmac.compare_digest(previous.identity_key, fresh.identity_key):
        raise RefusedMessageError("node presents another identity than it proved before")
    others = [b for n, b in bound.items() if n != node]
    if any(hmac.compare_digest(b.identity_key, pinned.identity_key) for b in others):
        raise RefusedMessageError("identity already bound to another node")
    return fresh, len(blob)


def _fresh_bundle(payload: dict[str, object], pinned: KeyBundle) -> KeyBundle:
    """The bundle a hello carries; it must belong to the pinned identity."""
    bundle_json = payload.get("bundle")
    if not isinstance(bundle_json, str):
        raise RefusedMessageError("hello carries no key bundle")
    fresh = KeyBundle.from_json(bundle_json)
    same_key = hmac.compare_digest(fresh.identity_key, pinned.identity_key)
    if not same_key or fresh.name != pinned.name:
        raise RefusedMessageError("hello bundle does not belong to the pinned identity")
    return fresh
