"""ServerApp side of the key handshake that binds a Flower node id to a trusted identity.

The server sends each new node a random challenge and its own current bundle
(``query.sealpack_hello``). The node answers with a blob sealed to the pinned
server identity holding ``{run_id, node, challenge, bundle}``. The answer is opened
only with the trusted bundle named by the node; every field must match, the fresh
bundle must carry the pinned identity key, and one identity binds one node.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flwr.app import ConfigRecord, Message, RecordDict

from sealpack.api import unseal
from sealpack.integrations.flower.client import HELLO_MESSAGE_TYPE
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.wire import (
    HELLO_RECORD,
    WIRE_VERSION,
    check_payload,
    unwrap_blob,
)
from sealpack.keys import Identity, KeyBundle, KeyStore

__all__ = ["CHALLENGE_SIZE", "hello_message", "verify_hello"]

CHALLENGE_SIZE = 32


def hello_message(node: int, challenge: bytes, server_bundle_json: str) -> Message:
    """The (public) handshake instruction for ``node``.

    Args:
        node: Destination Flower node id.
        challenge: Fresh random bytes the node must seal back.
        server_bundle_json: The ServerApp's current bundle (its one-time prekeys).

    Returns:
        A ``query.sealpack_hello`` Message.
    """
    record = ConfigRecord(
        {"v": WIRE_VERSION, "challenge": challenge, "server-bundle": server_bundle_json}
    )
    return Message(RecordDict({HELLO_RECORD: record}), node, HELLO_MESSAGE_TYPE)


def verify_hello(
    reply: Message,
    *,
    challenge: bytes,
    run_id: int,
    keys: Identity | KeyStore,
    trusted: Mapping[str, KeyBundle],
    bound: Mapping[int, KeyBundle],
) -> tuple[KeyBundle, int]:
    """Check a node's handshake answer and return the bundle to bind to it.

    Args:
        reply: The node's answer to :func:`hello_message`.
        challenge: The challenge sent to that node.
        run_id: The current Flower run id.
        keys: The ServerApp's identity or KeyStore.
        trusted: Trusted client bundles by name.
        bound: Node ids already bound, and their bundles.

    Returns:
        ``(fresh bundle of the node's identity, sealed blob size)``.

    Raises:
        RefusedMessageError: Untrusted name, wrong fields, foreign bundle, identity reused.
        SealpackError: The answer is tampered, badly signed, expired or replayed.
    """
    node = reply.metadata.src_node_id
    blob, name = unwrap_blob(reply.content, kind="hello")
    pinned = trusted.get(name)
    if pinned is None:
        raise RefusedMessageError("hello from an identity that is not trusted")
    payload = unseal(blob, recipient=keys, senders=[pinned])
    expected = {"run_id": run_id, "node": node, "challenge": challenge}
    fresh = _fresh_bundle(check_payload(payload, kind="hello", expected=expected), pinned)
    if any(hmac.compare_digest(b.identity_key, pinned.identity_key) for b in bound.values()):
        raise RefusedMessageError("identity already bound to another node")
    return fresh, len(blob)


def _fresh_bundle(payload: dict[str, object], pinned: KeyBundle) -> KeyBundle:
    """The bundle a hello carries; it must belong to the pinned identity."""
    bundle_json = payload.get("bundle")
    if not isinstance(bundle_json, str):
        raise RefusedMessageError("hello carries no key bundle")
    fresh = KeyBundle.from_json(bundle_json)
    if not hmac.compare_digest(fresh.identity_key, pinned.identity_key):
        raise RefusedMessageError("hello bundle does not belong to the pinned identity")
    return fresh
