"""The shape of every sealed Flower payload, for typed decoding (``unseal(..., expect=)``).

The codec checks a payload against these types on the parsed frame, before anything
is built (docs/spec/codec.md section 9): a peer that seals something else (a registered
class, a set, a Decimal, a nested structure Flower records never hold) is refused with
``SchemaError`` and none of it is constructed. ``records.plain_to_recorddict`` then
still validates what Flower itself requires (its record types check their values).

No ``from __future__ import annotations`` here: the annotations are read at run time.
"""

import sys
from typing import Literal, TypedDict

import numpy as np

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # Python 3.10: flwr's own dependencies bring typing_extensions
    from typing_extensions import NotRequired

__all__ = [
    "Content",
    "HelloPayload",
    "InstructionPayload",
    "ReplyPayload",
    "SessionInstruction",
    "SessionReply",
    "SessionTicket",
    "StartedReply",
]

Scalar = bool | int | float | str | bytes
ConfigValue = Scalar | list[bool] | list[int] | list[float] | list[str] | list[bytes]
MetricValue = int | float | list[int] | list[float]


class RawArray(TypedDict):
    """A Flower Array of a serialization type other than numpy, carried verbatim."""

    dtype: str
    shape: list[int]
    stype: str
    data: bytes


ArraysBody = list[tuple[str, np.ndarray | RawArray]]
Record = (
    tuple[str, Literal["arrays"], ArraysBody]
    | tuple[str, Literal["metrics"], dict[str, MetricValue]]
    | tuple[str, Literal["configs"], dict[str, ConfigValue]]
)


class Content(TypedDict):
    """A RecordDict in plain form (records.recorddict_to_plain)."""

    records: list[Record]


class ErrorOutcome(TypedDict):
    """A ClientApp failure, sealed to the server (app_errors)."""

    code: int
    reason: str


class InstructionPayload(TypedDict):
    """What the ServerApp seals to the nodes."""

    v: Literal[2]
    kind: Literal["instruction"]
    request: bytes
    server: str
    content: Content
    sessions: NotRequired[list[int]]


class ReplyPayload(TypedDict):
    """What a node seals back: content, or an error outcome."""

    v: Literal[2]
    kind: Literal["reply"]
    request: bytes
    content: NotRequired[Content]
    error: NotRequired[ErrorOutcome]


class HelloPayload(TypedDict):
    """A node's answer to the hello: its current bundle."""

    v: Literal[2]
    kind: Literal["hello"]
    bundle: str


class InstructionContext(TypedDict):
    """The context of an instruction inside a ratchet message (binding.instruction_metadata)."""

    flower: int
    kind: Literal["instruction"]
    run_id: int
    message_type: str
    group_id: str
    nodes: list[int]
    seq: int
    expires: int


class ReplyContext(TypedDict):
    """The context of a reply inside a ratchet message (binding.reply_metadata)."""

    flower: int
    kind: Literal["reply"]
    run_id: int
    message_type: str
    group_id: str
    node: int
    request: bytes


class SessionInstruction(InstructionPayload):
    """An instruction sent through the node's session: the payload and its context."""

    context: InstructionContext


class SessionReply(ReplyPayload):
    """A reply sent through the node's session: the payload and its context."""

    context: ReplyContext


class SessionTicket(TypedDict):
    """A node's ticket to a broadcast body, sent through its session (tickets.py)."""

    v: Literal[2]
    kind: Literal["ticket"]
    key: bytes
    digest: bytes
    context: InstructionContext


class _StartFields(TypedDict):
    session_id: bytes
    secret: bytes
    ratchet_key: bytes


StartedReply = TypedDict(  # functional form: the key is not an identifier
    "StartedReply", {"sealpack.session.start/v2": _StartFields, "message": SessionReply}
)
"""A sealed reply that also starts the node's session (session/start.py, START_KEY)."""
