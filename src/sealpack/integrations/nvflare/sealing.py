"""Seal and open one Shareable with a site's keys (no NVFLARE control flow here).

The filters in :mod:`filters` decide who seals what for whom; this module does the
sealpack calls: content -> codec -> sealed blob (uint8 array), and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import sealpack
from sealpack.errors import SealpackError
from sealpack.integrations.nvflare.binding import Binding, check_binding
from sealpack.integrations.nvflare.codec import nvflare_codec, writable
from sealpack.integrations.nvflare.errors import RefusedPayloadError
from sealpack.integrations.nvflare.keys import SiteKeys
from sealpack.integrations.nvflare.wire import content_of, rebuild

__all__ = ["CONTENT_TYPE", "acknowledge_held", "open_blob", "seal_content"]

CONTENT_TYPE = "application/vnd.sealpack.nvflare-shareable"
_MAX_HELD = 64


def seal_content(
    shareable: Any, keys: SiteKeys, binding: Binding, *, rng: Any = None
) -> np.ndarray:
    """Seal the content of ``shareable`` (not its headers) for ``binding.recipients``.

    Args:
        shareable: the Shareable to seal (never modified).
        keys: the sending site's keys.
        binding: what the blob is bound to; its recipients must have bundles.
        rng: randomness source (default os.urandom).

    Returns:
        The sealed blob as a uint8 array.

    Raises:
        NvflareConfigError: a recipient has no bundle. SealpackError: from sealing.
    """
    from nvflare.apis.shareable import ReservedHeaderKey

    payload = {
        "content": content_of(shareable),
        "content_type": shareable.get_header(ReservedHeaderKey.CONTENT_TYPE),
    }
    recipients = [keys.bundle(name) for name in binding.recipients]
    with keys.lock:
        blob = sealpack.seal_buffer(
            payload,
            sender=keys.store,
            recipients=recipients,
            metadata=binding.metadata(),
            content_type=CONTENT_TYPE,
            one_time_prekey=False,
            codec=nvflare_codec(),
            rng=rng,
        )
    return np.frombuffer(blob, dtype=np.uint8)


def open_blob(
    received: Any,
    blob: np.ndarray,
    keys: SiteKeys,
    *,
    expected: Binding,
    senders: Sequence[str],
    hold_as: str = "",
    rounds: Sequence[int] = (),
    newer_than: int | None = None,
) -> tuple[Any, Binding]:
    """Verify ``blob`` completely, check its binding, and rebuild the Shareable.

    The binding is checked inside ``unseal`` (``expect_metadata``): a blob bound
    elsewhere is refused before anything is recorded, so it burns nothing.

    Args:
        received: the received Shareable (its headers are kept; never modified).
        blob: the sealed blob.
        keys: the receiving site's keys.
        expected: the binding the receiver expects (see :func:`check_binding`).
        senders: the sites whose bundles may have sealed it.
        hold_as: open with ``hold=True`` and keep the receipt under this key until
            :func:`acknowledge_held` (a redelivered task then opens again); "" commits
            the message as done at once.
        rounds: relays: the rounds accepted (see :func:`check_binding`).
        newer_than: relays: the hop must be above this one.

    Returns:
        A new Shareable with the opened content (arrays writable), and the binding
        the blob carries.

    Raises:
        RefusedPayloadError: tampered, replayed, foreign, expired or bound elsewhere.
    """
    bundles = [keys.bundle(name) for name in senders]
    refusals: list[RefusedPayloadError] = []
    limits: dict[str, Any] = {"senders": senders, "rounds": rounds, "newer_than": newer_than}

    def matches(metadata: Any) -> bool:
        try:
            check_binding(metadata, expected=expected, sender_name=_claimed(metadata), **limits)
        except RefusedPayloadError as refusal:
            refusals.append(refusal)
            return False
        return True

    try:
        with keys.lock:
            payload, info = sealpack.unseal(
                memoryview(blob.data),
                recipient=keys.store,
                senders=bundles,
                with_metadata=True,
                codec=nvflare_codec(),
                expect_metadata=matches,
                hold=bool(hold_as),
            )
            if hold_as:
                keys.held[hold_as] = info
                while len(keys.held) > _MAX_HELD:  # tasks whose result never came
                    keys.held.pop(next(iter(keys.held)))
    except SealpackError as exc:
        if refusals:  # the binding check refused it before anything was recorded
            raise refusals[0] from exc
        raise RefusedPayloadError(f"sealed payload refused ({type(exc).__name__})") from exc
    bound = check_binding(info.metadata, expected=expected, sender_name=info.sender_name, **limits)
    if not isinstance(payload, dict) or set(payload) != {"content", "content_type"}:
        raise RefusedPayloadError("opened payload has the wrong shape")
    return rebuild(received, writable(payload["content"]), payload["content_type"]), bound


def acknowledge_held(keys: SiteKeys, hold_as: str) -> None:
    """Acknowledge the message opened under ``hold_as`` (nothing held: no-op).

    Raises:
        SealpackError: the key store could not record it.
    """
    with keys.lock:
        info = keys.held.pop(hold_as, None)
        if info is not None:
            sealpack.acknowledge(keys.store, info)


def _claimed(metadata: Any) -> str:
    """The sender named in the metadata (compared again with the verified name after)."""
    bound = metadata.get("nvflare") if isinstance(metadata, dict) else None
    sender = bound.get("from") if isinstance(bound, dict) else None
    return sender if isinstance(sender, str) else ""
