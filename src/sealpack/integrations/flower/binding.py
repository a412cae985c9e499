"""What each sealed Flower message is bound to, and what its opener expects.

The context of a sealed message (run, message type, round, nodes, request, challenge,
sequence number) travels in the blob's **signed header metadata**, so the opener checks
it through ``unseal(..., expect_metadata=...)``: after the signature, before the replay
store or any prekey is touched (issue 10.2). A relay that delivers an authentic blob in
the wrong context gets it refused without burning it; the right delivery still opens.

Metadata (public, like Flower's own routing metadata; never secrets)::

    instruction  {"flower": 2, "kind": "instruction", "run_id": int, "message_type": str,
                  "group_id": str, "nodes": [int, ...], "seq": int}
    reply        {"flower": 2, "kind": "reply", "run_id": int, "message_type": str,
                  "group_id": str, "node": int, "request": bytes}
    hello        {"flower": 2, "kind": "hello", "run_id": int, "node": int,
                  "challenge": bytes}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sealpack.api import unseal
from sealpack.envelope.opener import UnsealedInfo
from sealpack.integrations.flower.errors import RefusedMessageError, StaleInstructionError
from sealpack.integrations.flower.wire import WIRE_VERSION
from sealpack.keys import Identity, KeyBundle, KeyStore

__all__ = [
    "WIRE_VERSION",
    "Expectation",
    "hello_metadata",
    "instruction_expectation",
    "instruction_metadata",
    "open_bound",
    "reply_metadata",
    "valid_until",
]

Metadata = dict[str, Any]
Expectation = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool]


def instruction_metadata(
    run_id: int, message_type: str, group_id: str, nodes: list[int], seq: int
) -> Metadata:
    """The signed context of an instruction blob.

    Args:
        run_id: The Flower run.
        message_type: The Flower message type (``train``, ``evaluate``, ...).
        group_id: The Flower group id (the round).
        nodes: Every destination node of this blob.
        seq: The server's push counter (nodes never accept an older one).

    Returns:
        The metadata to seal with the instruction.
    """
    return {
        "flower": WIRE_VERSION,
        "kind": "instruction",
        "run_id": run_id,
        "message_type": message_type,
        "group_id": group_id,
        "nodes": nodes,
        "seq": seq,
    }


def reply_metadata(
    run_id: int, message_type: str, group_id: str, node: int, request: bytes
) -> Metadata:
    """The signed context of a reply blob (also the server's expectation for it).

    Args:
        run_id: The Flower run.
        message_type: The instruction's message type.
        group_id: The instruction's group id.
        node: The replying node.
        request: The request id of the instruction answered.

    Returns:
        The metadata to seal with the reply, or to expect of it.
    """
    return {
        "flower": WIRE_VERSION,
        "kind": "reply",
        "run_id": run_id,
        "message_type": message_type,
        "group_id": group_id,
        "node": node,
        "request": request,
    }


def hello_metadata(run_id: int, node: int, challenge: bytes) -> Metadata:
    """The signed context of a hello answer (also the server's expectation for it).

    Args:
        run_id: The Flower run.
        node: The answering node.
        challenge: The challenge of the hello answered.

    Returns:
        The metadata to seal with the answer, or to expect of it.
    """
    return {
        "flower": WIRE_VERSION,
        "kind": "hello",
        "run_id": run_id,
        "node": node,
        "challenge": challenge,
    }


def instruction_expectation(
    run_id: int, message_type: str, group_id: str, node: int, last_seq: int
) -> Callable[[Mapping[str, Any]], bool]:
    """The client's predicate on an instruction's signed metadata.

    Args:
        run_id: The run the node is in.
        message_type: The Flower message type the instruction arrived as.
        group_id: The Flower group id (round) it arrived as.
        node: This node's id (must be among the blob's destination nodes).
        last_seq: The highest push counter this node has accepted in this run.

    Returns:
        A predicate returning True, or raising RefusedMessageError naming what differs
        (``unseal`` turns it into ContextMismatchError, nothing recorded).
    """
    wanted = {
        "flower": WIRE_VERSION,
        "kind": "instruction",
        "run_id": run_id,
        "message_type": message_type,
        "group_id": group_id,
    }

    def accept(metadata: Mapping[str, Any]) -> bool:
        for key, value in wanted.items():
            got = metadata.get(key)
            if type(got) is not type(value) or got != value:
                raise RefusedMessageError(f"instruction is bound to another {key!r}")
        nodes, seq = metadata.get("nodes"), metadata.get("seq")
        if not isinstance(nodes, list) or node not in nodes:
            raise RefusedMessageError("instruction is not addressed to this node")
        if type(seq) is not int or seq < last_seq:
            raise StaleInstructionError("instruction is older than one this node already saw")
        return True

    return accept


def open_bound(
    blob: bytes,
    *,
    recipient: Identity | KeyStore,
    sender: KeyBundle,
    expect: Expectation,
    shape: Any,
) -> tuple[Any, UnsealedInfo]:
    """Unseal ``blob`` from ``sender`` only in the expected context and shape.

    Args:
        blob: The sealed blob.
        recipient: The opening identity or key store.
        sender: The one bundle (pin) whose identity key may have sealed it.
        expect: Items the signed metadata must hold, or a predicate on it.
        shape: The payload's type (:mod:`.schema`), checked before anything is built.

    Returns:
        ``(payload, verified info)``.

    Raises:
        ContextMismatchError: The blob belongs to another context (nothing recorded).
        SchemaError: The payload does not have the expected shape.
        SealpackError: Any other refusal of ``unseal``.
    """
    opened: tuple[Any, UnsealedInfo] = unseal(
        blob,
        recipient=recipient,
        senders=[sender],
        with_metadata=True,
        expect_metadata=expect,
        expect=shape,
    )
    return opened


def valid_until(bundle: KeyBundle) -> int:
    """When the bundle's signed prekey (or its PQ prekey, if sooner) expires.

    Args:
        bundle: A verified bundle.

    Returns:
        Seconds since the epoch.
    """
    expires = bundle.signed_prekey.expires
    if bundle.pq_prekey is not None:
        expires = min(expires, bundle.pq_prekey.expires)
    return int(expires)
