"""What a sealed NVFLARE message is bound to, and the receiver's check of it.

Every blob carries, in its signed metadata under the key ``"nvflare"``:

=========  ==================================================================
``job``    the NVFLARE job id
``task``   the task name
``ref``    task data: the task's ``MSG_ROOT_ID`` (one id shared by every client
           of a broadcast, so it is sealed once); result: the client's task id
           (unique per client and round); relay: ""
``dir``    ``"task"`` (server to client), ``"result"`` (client to server) or
           ``"relay"`` (client to client through the server, peer mode)
``from``   the sending site
``to``     the receiving sites, sorted
``round``  task data: the round from the task headers, or -1; result: -1;
           relay: the round of the task the sending client answered
``hop``    relay: how many clients the model passed since the server sealed it
           (the opened relay's hop + 1; 1 after a task sealed by the server);
           task data and result: -1
=========  ==================================================================

The sender's site is also the name of the bundle that verified the signature.
A relay is accepted in the round of the receiver's task or the one before (the
last client of a round relays to the first of the next), and only when its hop
is above the hop of every relay the receiver itself sealed in the job: a client
never goes back to a model older than its own last contribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealpack.integrations.nvflare.errors import RefusedPayloadError

__all__ = ["DIRECTIONS", "METADATA_KEY", "Binding", "check_binding"]

METADATA_KEY = "nvflare"
DIRECTIONS = ("task", "result", "relay")


@dataclass(frozen=True)
class Binding:
    """The context one sealed message belongs to."""

    job: str
    task: str
    ref: str
    direction: str
    sender: str
    recipients: tuple[str, ...]
    round: int = -1
    hop: int = -1

    def metadata(self) -> dict[str, Any]:
        """The signed metadata that records this binding."""
        return {
            METADATA_KEY: {
                "job": self.job,
                "task": self.task,
                "ref": self.ref,
                "dir": self.direction,
                "from": self.sender,
                "to": sorted(self.recipients),
                "round": self.round,
                "hop": self.hop,
            }
        }


def _field(bound: Mapping[str, Any], name: str, kind: type) -> Any:
    value = bound.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RefusedPayloadError(f"sealed payload has no valid binding field {name!r}")
    return value


def _same_round(expected: int, got: int) -> bool:
    return expected < 0 or got == expected


def check_binding(
    metadata: Mapping[str, Any],
    *,
    expected: Binding,
    sender_name: str,
    senders: Sequence[str] = (),
    rounds: Sequence[int] = (),
    newer_than: int | None = None,
) -> Binding:
    """Check the signed metadata of an opened blob against what the receiver expects.

    Args:
        metadata: the verified metadata of the blob.
        expected: job, task, ref, direction, sender and round the receiver expects;
            ``expected.recipients`` holds the one receiving site, which must be listed.
            An empty ``ref`` or a round of -1 is not compared.
        sender_name: the name of the bundle that verified the signature.
        senders: for relays, the sites a relay may come from (``expected.sender``
            is then ignored).
        rounds: for relays, the rounds accepted (``expected.round`` is then ignored).
        newer_than: for relays, the hop must be above this one (None: not compared).

    Returns:
        The binding the blob carries.

    Raises:
        RefusedPayloadError: any field differs (the message names the field only).
    """
    bound = metadata.get(METADATA_KEY)
    if not isinstance(bound, Mapping):
        raise RefusedPayloadError("sealed payload carries no NVFLARE binding")
    recipients = _field(bound, "to", list)
    got = Binding(
        job=_field(bound, "job", str),
        task=_field(bound, "task", str),
        ref=_field(bound, "ref", str),
        direction=_field(bound, "dir", str),
        sender=_field(bound, "from", str),
        recipients=tuple(str(name) for name in recipients),
        round=_field(bound, "round", int),
        hop=_field(bound, "hop", int),
    )
    allowed_senders = tuple(senders) if senders else (expected.sender,)
    checks = (
        ("job", got.job == expected.job),
        ("task", got.task == expected.task),
        ("direction", got.direction == expected.direction),
        ("ref", not expected.ref or got.ref == expected.ref),
        ("round", got.round in rounds if rounds else _same_round(expected.round, got.round)),
        ("hop", newer_than is None or got.hop > newer_than),
        ("sender", got.sender == sender_name and got.sender in allowed_senders),
        ("recipient", all(name in got.recipients for name in expected.recipients)),
    )
    for name, ok in checks:
        if not ok:
            raise RefusedPayloadError(f"sealed payload is bound to another {name}")
    return got
