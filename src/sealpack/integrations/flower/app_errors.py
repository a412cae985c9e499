"""What a ClientApp failure may tell the server: a sealed error, never plaintext.

Flower turns an exception raised by a ClientApp into an error reply whose reason is
``str(exception)``, carried in the clear through the SuperLink; an app's own error
reply is carried the same way. The sealpack mod therefore runs the app itself, catches
every ``Exception``, and seals an outcome ``{"error": {"code": int, "reason": str}}``
to the ServerApp instead of the content. The reason names the exception type only;
with ``error_details=True`` the node also seals the text (to the server only).
:class:`SealedGrid` turns a sealed error back into a Flower error reply.
"""

from __future__ import annotations

import logging
from typing import Any

from flwr.app import Context, Error, Message
from flwr.app.message import make_message
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.constant import ErrorCode

from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.records import plain_to_recorddict, recorddict_to_plain

__all__ = ["MAX_REASON", "error_from_outcome", "run_app"]

_log = logging.getLogger(__name__)
MAX_REASON = 1000
"""Characters of an error reason kept (sealed details included)."""


def run_app(
    message: Message,
    context: Context,
    call_next: ClientAppCallable,
    plain: object,
    details: bool,
) -> dict[str, Any]:
    """Run the app on the unsealed content; return the outcome to seal.

    Args:
        message: The (sealed) instruction as received (its metadata is kept).
        context: The node's context.
        call_next: The rest of the ClientApp (inner mods and the handler).
        plain: The unsealed content, in plain form.
        details: Include exception texts and app error reasons in the outcome.

    Returns:
        ``{"content": plain reply}`` or ``{"error": {"code": int, "reason": str}}``.
    """
    try:
        inner = make_message(message.metadata, content=plain_to_recorddict(plain))
        reply = call_next(inner, context)
        if reply.has_error():
            text = reply.error.reason if details else None
            return _error(int(reply.error.code), "ClientApp replied with an error", text)
        return {"content": recorddict_to_plain(reply.content)}
    except Exception as exc:  # whatever the app raises must not leave in clear
        _log.warning("sealpack: the ClientApp raised %s (sealed to the server)", type(exc).__name__)
        name = type(exc).__name__
        text = str(exc) if details else None
        return _error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, f"ClientApp raised {name}", text)


def _error(code: int, summary: str, text: str | None) -> dict[str, Any]:
    reason = f"{summary}: {text}" if text is not None else f"{summary} (details withheld)"
    return {"error": {"code": code, "reason": reason[:MAX_REASON]}}


def error_from_outcome(outcome: object) -> Error:
    """The Flower Error a sealed ``{"code", "reason"}`` outcome stands for.

    Args:
        outcome: The ``"error"`` field of an unsealed reply.

    Returns:
        The Error to hand to the strategy.

    Raises:
        RefusedMessageError: The outcome is malformed.
    """
    if not isinstance(outcome, dict) or set(outcome) != {"code", "reason"}:
        raise RefusedMessageError("sealed error reply is malformed")
    code, reason = outcome["code"], outcome["reason"]
    if type(code) is not int or not -(2**63) <= code < 2**63:
        raise RefusedMessageError("sealed error reply is malformed")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise RefusedMessageError("sealed error reply is malformed")
    return Error(code=code, reason=f"sealed by the node: {reason}")
