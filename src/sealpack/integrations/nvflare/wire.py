"""The shape of a sealed Shareable on NVFLARE's wire, and the marks filters leave.

A sealed Shareable keeps NVFLARE's headers (task name and id, round, cookies: the
routing NVFLARE needs, never model data) and replaces the content by one DXO::

    DXO(kind=WEIGHTS, data={"__sealpack__": <uint8 array: the sealed blob>})

The blob travels as a numpy uint8 array, so NVFLARE streams it through its download
service in chunks exactly as it does a plain model's arrays (a bytes value would be
an inline attachment). A DXO shape also survives workflows that turn a result into
the next task (Cyclic), so a relay stays sealed end to end.

Marks: the open filter sets an attribute on the Shareable object it returns, which
the guard checks. An attribute is not content: it never travels, so a peer cannot
forge it (a header could be forged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sealpack.integrations.nvflare.errors import RefusedPayloadError

__all__ = [
    "BLOB_KEY",
    "OPENED",
    "RELAYED",
    "SEALED",
    "content_identity",
    "content_of",
    "find_blob",
    "has_mark",
    "mark",
    "rebuild",
    "sealed_shareable",
    "wipe",
]

BLOB_KEY = "__sealpack__"
OPENED = "opened"
SEALED = "sealed"
RELAYED = "relayed"
_MARK_ATTR = "_sealpack_mark"
_MARK_TOKEN = object()


def mark(shareable: Any, state: str) -> Any:
    """Record in-process that a sealpack filter produced ``shareable`` in ``state``.

    Args:
        shareable: the Shareable a filter returns.
        state: ``OPENED``, ``SEALED`` or ``RELAYED``.

    Returns:
        ``shareable`` itself.
    """
    setattr(shareable, _MARK_ATTR, (_MARK_TOKEN, state))
    return shareable


def has_mark(shareable: Any, *states: str) -> bool:
    """Whether a sealpack filter of this process marked ``shareable`` with one of ``states``.

    Args:
        shareable: any object NVFLARE handed on.
        states: the acceptable marks.

    Returns:
        True when marked with one of them.
    """
    value = getattr(shareable, _MARK_ATTR, None)
    return isinstance(value, tuple) and value[0] is _MARK_TOKEN and value[1] in states


def _headers_key() -> str:
    from nvflare.apis.shareable import ReservedHeaderKey

    return str(ReservedHeaderKey.HEADERS)


def content_of(shareable: Any) -> dict[str, Any]:
    """The content of a Shareable (everything but its headers) as a plain dict."""
    headers = _headers_key()
    return {key: value for key, value in shareable.items() if key != headers}


def content_identity(shareable: Any) -> tuple[tuple[int, ...], list[Any]]:
    """Which objects a Shareable's content is made of: every dict in it and each value.

    NVFLARE's per-client copies of one broadcast share these objects; a workflow that
    relays new data in the same task (Cyclic) puts new ones. Lists, tuples and arrays
    count as values (their own items are not walked).

    Args:
        shareable: the Shareable about to be sealed.

    Returns:
        The ids of the objects in walk order, and the objects (keep them alive while
        the ids are used as a key, so no id is reused by a new object).
    """
    nodes: list[Any] = []
    stack: list[dict[Any, Any]] = [content_of(shareable)]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        nodes.extend(current)
        nodes.extend(current.values())
        for value in [item for item in current.values() if isinstance(item, dict)]:
            if id(value) not in seen:
                seen.add(id(value))
                stack.append(value)
    return tuple(map(id, nodes)), nodes


def _new_like(source: Any) -> Any:
    """A new Shareable with a copy of ``source``'s header dict (values shared)."""
    from nvflare.apis.shareable import Shareable

    target = Shareable()
    headers = source.get(_headers_key())
    target[_headers_key()] = dict(headers) if isinstance(headers, dict) else {}
    return target


def sealed_shareable(source: Any, blob: np.ndarray) -> Any:
    """A new Shareable: ``source``'s headers, the blob as its only content.

    Args:
        source: the Shareable whose headers travel in the clear (it is not modified).
        blob: the sealed blob as a uint8 array.

    Returns:
        The sealed Shareable.
    """
    from nvflare.apis.dxo import DXO, DataKind

    target = _new_like(source)
    DXO(data_kind=DataKind.WEIGHTS, data={BLOB_KEY: blob}).update_shareable(target)
    return target


def find_blob(shareable: Any) -> np.ndarray | None:
    """The sealed blob of a Shareable in the sealed shape.

    Args:
        shareable: a received Shareable.

    Returns:
        The blob as a contiguous uint8 array, or None when it is not in the sealed shape.

    Raises:
        RefusedPayloadError: the blob slot holds something other than a 1-D uint8 array.
    """
    dxo = shareable.get("DXO") if isinstance(shareable, dict) else None
    data = dxo.get("data") if isinstance(dxo, dict) else None
    if not isinstance(data, dict) or set(data) != {BLOB_KEY}:
        return None
    blob = data[BLOB_KEY]
    if not isinstance(blob, np.ndarray) or blob.dtype != np.uint8 or blob.ndim != 1:
        raise RefusedPayloadError("sealed payload is not a one-dimensional uint8 array")
    return np.ascontiguousarray(blob)


def rebuild(received: Any, content: Any, content_type: Any) -> Any:
    """A new Shareable: the received headers and the opened content.

    Raises:
        RefusedPayloadError: the opened content is not a dict.
    """
    from nvflare.apis.shareable import ReservedHeaderKey

    if not isinstance(content, dict) or _headers_key() in content:
        raise RefusedPayloadError("opened payload is not a Shareable's content")
    target = _new_like(received)
    target[_headers_key()].pop(ReservedHeaderKey.CONTENT_TYPE, None)
    if content_type is not None:
        target.set_header(ReservedHeaderKey.CONTENT_TYPE, content_type)
    target.update(content)
    return target


def wipe(shareable: Any, return_code: str) -> None:
    """Remove every piece of content from ``shareable`` in place and set a return code.

    Args:
        shareable: the Shareable NVFLARE goes on with (headers are kept).
        return_code: an NVFLARE ``ReturnCode``.
    """
    headers = _headers_key()
    for key in [key for key in shareable if key != headers]:
        del shareable[key]
    shareable.set_return_code(return_code)
