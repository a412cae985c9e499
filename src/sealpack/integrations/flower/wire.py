"""How sealed blobs ride inside Flower messages, and the sealed payload's fields.

A sealed Flower message has exactly two records and nothing else:

* ``"sealpack"`` - an ArrayRecord with one Array ``"blob"`` (dtype ``uint8``,
  shape ``(len,)``, stype ``"sealpack.envelope"``) holding the sealed blob, so
  Flower chunks large blobs like any model; an instruction through a broadcast
  ticket (:mod:`.tickets`) holds the node's ticket there and a second Array
  ``"body"`` (stype ``"sealpack.body"``): the body shared by every ticketed node;
* ``"sealpack-info"`` - a ConfigRecord ``{"v": 2, "kind": str, "sender": str}``, plus
  ``"request": bytes`` on replies (public routing facts only; ``sender`` is the sealing
  identity's name; both are hints that the signed metadata must confirm).

The context a blob is bound to is in its signed header metadata (:mod:`.binding`).
The sealed object itself is a dict::

    {"v": 2, "kind": "instruction" | "reply" | "hello",
     "request": bytes,    # instruction / reply: random id of the instruction
     "server": str,       # instruction: the ServerApp's current KeyBundle JSON
     "bundle": str,       # hello: the node's current KeyBundle JSON
     "content": {...},    # instruction / reply: records.recorddict_to_plain(...)
     "error": {"code": int, "reason": str},  # reply instead of content (app_errors)
     "sessions": [int, ...]}  # instruction, server sessions on: nodes it has one with

Through a node's ratchet session (:mod:`.sessions`) the object also carries
``"context"``: the fields of the signed metadata (plus ``"expires"`` on instructions).
A sealed start wraps the reply as ``{"sealpack.session.start/v2": {...}, "message": ...}``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

from sealpack.integrations.flower.errors import RefusedMessageError

__all__ = [
    "BLOB_RECORD",
    "HELLO_RECORD",
    "INFO_RECORD",
    "WIRE_VERSION",
    "check_payload",
    "unwrap_blob",
    "unwrap_info",
    "unwrap_instruction",
    "wrap_blob",
]

WIRE_VERSION = 2
BLOB_RECORD = "sealpack"
INFO_RECORD = "sealpack-info"
HELLO_RECORD = "sealpack-hello"
_BLOB_KEY = "blob"
_BLOB_STYPE = "sealpack.envelope"
_BODY_KEY = "body"
_BODY_STYPE = "sealpack.body"


def wrap_blob(
    blob: bytes,
    *,
    kind: str,
    sender: str,
    request: bytes | None = None,
    body: bytes | None = None,
) -> RecordDict:
    """Put a sealed blob into a fresh RecordDict (the only content sent on the wire).

    Args:
        blob: The sealed blob (or a node's ticket).
        kind: ``"instruction"``, ``"reply"`` or ``"hello"``.
        sender: The sealing identity's name (public).
        request: A reply's request id (public; confirmed by the signed metadata).
        body: A broadcast body shared by the nodes with a ticket (instructions only).

    Returns:
        A RecordDict with the blob and the public routing facts.
    """
    arrays = {_BLOB_KEY: _array(blob, _BLOB_STYPE)}
    if body is not None:
        arrays[_BODY_KEY] = _array(body, _BODY_STYPE)
    info: dict[str, Any] = {"v": WIRE_VERSION, "kind": kind, "sender": sender}
    if request is not None:
        info["request"] = request
    return RecordDict(
        {
            BLOB_RECORD: ArrayRecord(array_dict=arrays),
            INFO_RECORD: ConfigRecord(info),
        }
    )


def _array(data: bytes, stype: str) -> Array:
    return Array(dtype="uint8", shape=(len(data),), stype=stype, data=data)


def unwrap_blob(content: RecordDict, *, kind: str) -> tuple[bytes, str]:
    """Take the sealed blob out of a received RecordDict (see :func:`unwrap_info`).

    Args:
        content: The received message content.
        kind: The kind of sealed message expected here.

    Returns:
        ``(blob, sender name)``; the sender name is unverified until unsealed.

    Raises:
        RefusedMessageError: The content is not exactly one sealed blob of that kind.
    """
    blob, info = unwrap_info(content, kind=kind)
    return blob, str(info["sender"])


def unwrap_instruction(content: RecordDict) -> tuple[bytes, bytes | None]:
    """Take a sealed instruction (blob, or ticket and shared body) out of a RecordDict.

    Args:
        content: The received instruction content.

    Returns:
        ``(blob, None)`` or ``(ticket, body)``; both unverified until opened.

    Raises:
        RefusedMessageError: The content is not a sealed instruction.
    """
    blob, _, body = _unwrap(content, "instruction", with_body=True)
    return blob, body


def unwrap_info(content: RecordDict, *, kind: str) -> tuple[bytes, ConfigRecord]:
    """Take the sealed blob out of a received RecordDict; refuse anything else.

    Args:
        content: The received message content.
        kind: The kind of sealed message expected here.

    Returns:
        ``(blob, info record)``; the info record is unverified until unsealed.

    Raises:
        RefusedMessageError: The content is not exactly one sealed blob of that kind.
    """
    blob, info, _ = _unwrap(content, kind, with_body=False)
    return blob, info


def _unwrap(
    content: RecordDict, kind: str, *, with_body: bool
) -> tuple[bytes, ConfigRecord, bytes | None]:
    """The blob, the info record and (``with_body``: maybe) a body; refuse anything else."""
    if set(content.keys()) != {BLOB_RECORD, INFO_RECORD}:
        raise RefusedMessageError("message is not sealed by sealpack (plaintext refused)")
    blob_record, info = content[BLOB_RECORD], content[INFO_RECORD]
    if not isinstance(blob_record, ArrayRecord) or not isinstance(info, ConfigRecord):
        raise RefusedMessageError("sealed message has malformed records")
    if info.get("v") != WIRE_VERSION or info.get("kind") != kind:
        raise RefusedMessageError(f"expected a sealed {kind!r} message")
    sender = info.get("sender")
    allowed = ({_BLOB_KEY}, {_BLOB_KEY, _BODY_KEY}) if with_body else ({_BLOB_KEY},)
    if not isinstance(sender, str) or set(blob_record) not in allowed:
        raise RefusedMessageError("sealed message has malformed records")
    blob = _array_bytes(blob_record, _BLOB_KEY, _BLOB_STYPE)
    body = _array_bytes(blob_record, _BODY_KEY, _BODY_STYPE) if _BODY_KEY in blob_record else None
    return blob, info, body


def _array_bytes(record: ArrayRecord, key: str, stype: str) -> bytes:
    array = record.get(key)
    if array is None or array.stype != stype or not isinstance(array.data, bytes):
        raise RefusedMessageError("sealed message has malformed records")
    return array.data


def check_payload(
    payload: object, *, kind: str, expected: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """Check an unsealed payload's version, kind and context bindings.

    Args:
        payload: The object returned by ``sealpack.unseal``.
        kind: The expected payload kind.
        expected: Field values the payload must carry exactly (bytes compared in
            constant time).

    Returns:
        The payload as a dict.

    Raises:
        RefusedMessageError: A field is missing or bound to another context.
    """
    if not isinstance(payload, dict):
        raise RefusedMessageError("sealed payload is not a sealpack Flower payload")
    if payload.get("v") != WIRE_VERSION or payload.get("kind") != kind:
        raise RefusedMessageError(f"sealed payload is not a {kind!r}")
    for field, want in (expected or {}).items():
        got = payload.get(field)
        if isinstance(want, bytes):
            same = isinstance(got, bytes) and hmac.compare_digest(got, want)
        else:
            same = type(got) is type(want) and got == want
        if not same:
            raise RefusedMessageError(f"sealed payload is bound to another {field!r}")
    return payload
