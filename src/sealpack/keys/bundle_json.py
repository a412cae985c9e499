"""Strict JSON reading and writing of key bundles (schema: docs/spec/keys.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sealpack import errors, primitives
from sealpack.keys.prekeys import (
    OneTimePrekeyPublic,
    PQOneTimePrekeyPublic,
    PQPrekeyPublic,
    SignedPrekeyPublic,
)

__all__ = [
    "BUNDLE_TYPE",
    "BUNDLE_VERSION",
    "MAX_BUNDLE_JSON",
    "VERSION_1_MESSAGE",
    "BundleFields",
    "dump_bundle",
    "parse_bundle",
]

BUNDLE_TYPE = "sealpack-key-bundle"
BUNDLE_VERSION = 2
MAX_BUNDLE_JSON = 8 * 1024 * 1024
VERSION_1_MESSAGE = (
    "key bundle: format version 1 (sealpack 0.1) is no longer read; ask the sender to upgrade"
)
_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_TOP_KEYS = {
    "type",
    "version",
    "name",
    "identity_key",
    "signed_prekey",
    "pq_prekey",
    "one_time_prekeys",
    "pq_one_time_prekeys",
}
_TIMED_KEYS = {"id", "public", "created", "expires", "signature"}
_ONE_TIME_KEYS = {"id", "public", "signature"}
_PQ_SIZE = primitives.MLKEM768_PUBLIC_SIZE


@dataclass(frozen=True)
class BundleFields:
    """The raw fields of a parsed bundle, not yet cryptographically verified."""

    name: str
    identity_key: bytes
    signed_prekey: SignedPrekeyPublic
    one_time_prekeys: tuple[OneTimePrekeyPublic, ...]
    pq_prekey: PQPrekeyPublic | None
    pq_one_time_prekeys: tuple[PQOneTimePrekeyPublic, ...]


def _timed(record: SignedPrekeyPublic | PQPrekeyPublic) -> dict[str, Any]:
    return {
        "id": record.id,
        "public": record.public.hex(),
        "created": record.created,
        "expires": record.expires,
        "signature": record.signature.hex(),
    }


def _one_time(record: OneTimePrekeyPublic | PQOneTimePrekeyPublic) -> dict[str, Any]:
    return {"id": record.id, "public": record.public.hex(), "signature": record.signature.hex()}


def dump_bundle(fields: BundleFields) -> str:
    """Return the canonical JSON text of a bundle (sorted keys, 2-space indent)."""
    document = {
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
        "name": fields.name,
        "identity_key": fields.identity_key.hex(),
        "signed_prekey": _timed(fields.signed_prekey),
        "pq_prekey": None if fields.pq_prekey is None else _timed(fields.pq_prekey),
        "one_time_prekeys": [_one_time(p) for p in fields.one_time_prekeys],
        "pq_one_time_prekeys": [_one_time(p) for p in fields.pq_one_time_prekeys],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise errors.BundleError(f"duplicate JSON key {key[:40]!r}")
        result[key] = value
    return result


def _reject_constant(token: str) -> None:
    raise errors.BundleError(f"JSON constant {token} is not allowed")


def _decode_utf8(raw: bytes) -> str:
    """Decode bundle bytes as strict UTF-8 without a BOM (json.loads would guess)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise errors.BundleError("bundle JSON must be UTF-8 without a byte order mark")
    try:
        return raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise errors.BundleError("bundle JSON is not valid UTF-8") from None


def _load(text: str | bytes) -> Any:
    if not isinstance(text, (str, bytes, bytearray)):
        raise errors.BundleError("bundle JSON must be str or bytes")
    if len(text) > MAX_BUNDLE_JSON:
        raise errors.BundleError(f"bundle JSON larger than {MAX_BUNDLE_JSON} bytes")
    if not isinstance(text, str):
        text = _decode_utf8(bytes(text))
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except errors.BundleError:
        raise
    except (ValueError, RecursionError, TypeError) as error:
        raise errors.BundleError(f"bundle is not valid JSON ({type(error).__name__})") from None


def _object(value: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.BundleError(f"{what} must be a JSON object")
    if set(value) != keys:
        unknown = sorted(set(value) - keys)[:3]
        missing = sorted(keys - set(value))[:3]
        raise errors.BundleError(f"{what}: unknown keys {unknown}, missing keys {missing}")
    return value


def _hex(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        raise errors.BundleError(f"{what} must be {size} bytes as lowercase hex")
    return bytes.fromhex(value)


def _int(value: Any, what: str) -> int:
    if type(value) is not int:
        raise errors.BundleError(f"{what} must be an integer")
    return value


def _check_header(document: Any) -> None:
    if not isinstance(document, dict):
        raise errors.BundleError("bundle must be a JSON object")
    if document.get("type") != BUNDLE_TYPE:
        raise errors.BundleError(f"not a sealpack key bundle (type must be {BUNDLE_TYPE!r})")
    version = document.get("version")
    if type(version) is not int:
        raise errors.BundleError("bundle version must be an integer")
    if version == 1:
        raise errors.UnsupportedVersionError(VERSION_1_MESSAGE)
    if version != BUNDLE_VERSION:
        raise errors.UnsupportedVersionError(f"unsupported key bundle version {version}")


def _timed_record(value: Any, what: str, size: int) -> tuple[int, bytes, int, int, bytes]:
    item = _object(value, _TIMED_KEYS, what)
    return (
        _int(item["id"], f"{what}.id"),
        _hex(item["public"], size, f"{what}.public"),
        _int(item["created"], f"{what}.created"),
        _int(item["expires"], f"{what}.expires"),
        _hex(item["signature"], 64, f"{what}.signature"),
    )


def _one_time_records(value: Any, what: str, size: int) -> list[tuple[int, bytes, bytes]]:
    if not isinstance(value, list):
        raise errors.BundleError(f"{what}s must be a JSON array")
    records = []
    for raw in value:
        item = _object(raw, _ONE_TIME_KEYS, what)
        records.append(
            (
                _int(item["id"], f"{what} id"),
                _hex(item["public"], size, what),
                _hex(item["signature"], 64, f"{what} signature"),
            )
        )
    return records


def parse_bundle(text: str | bytes) -> BundleFields:
    """Parse bundle JSON strictly into fields (no signature check here).

    Raises:
        UnsupportedVersionError: the version is not 2 (version 1: :data:`VERSION_1_MESSAGE`).
        BundleError: anything else is malformed.
    """
    document = _load(text)
    _check_header(document)
    top = _object(document, _TOP_KEYS, "bundle")
    signed = SignedPrekeyPublic(*_timed_record(top["signed_prekey"], "signed_prekey", 32))
    pq_prekey = None
    if top["pq_prekey"] is not None:
        pq_prekey = PQPrekeyPublic(*_timed_record(top["pq_prekey"], "pq_prekey", _PQ_SIZE))
    opks = _one_time_records(top["one_time_prekeys"], "one-time prekey", 32)
    pq_opks = _one_time_records(top["pq_one_time_prekeys"], "PQ one-time prekey", _PQ_SIZE)
    if not isinstance(top["name"], str):
        raise errors.BundleError("name must be a string")
    return BundleFields(
        top["name"],
        _hex(top["identity_key"], 32, "identity_key"),
        signed,
        tuple(OneTimePrekeyPublic(*record) for record in opks),
        pq_prekey,
        tuple(PQOneTimePrekeyPublic(*record) for record in pq_opks),
    )
