"""Strict JSON reading and writing of key bundles (schema: docs/spec/keys.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sealpack import errors
from sealpack.keys.prekeys import OneTimePrekeyPublic, SignedPrekeyPublic

__all__ = ["BUNDLE_TYPE", "BUNDLE_VERSION", "MAX_BUNDLE_JSON", "dump_bundle", "parse_bundle"]

BUNDLE_TYPE = "sealpack-key-bundle"
BUNDLE_VERSION = 1
MAX_BUNDLE_JSON = 4 * 1024 * 1024
_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_TOP_KEYS = {"type", "version", "name", "identity_key", "signed_prekey", "one_time_prekeys"}
_SPK_KEYS = {"id", "public", "created", "expires", "signature"}
_OPK_KEYS = {"id", "public"}


@dataclass(frozen=True)
class BundleFields:
    """The raw fields of a parsed bundle, not yet cryptographically verified."""

    name: str
    identity_key: bytes
    signed_prekey: SignedPrekeyPublic
    one_time_prekeys: tuple[OneTimePrekeyPublic, ...]


def dump_bundle(
    name: str,
    identity_key: bytes,
    signed_prekey: SignedPrekeyPublic,
    one_time_prekeys: tuple[OneTimePrekeyPublic, ...],
) -> str:
    """Return the canonical JSON text of a bundle (sorted keys, 2-space indent)."""
    document = {
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
        "name": name,
        "identity_key": identity_key.hex(),
        "signed_prekey": {
            "id": signed_prekey.id,
            "public": signed_prekey.public.hex(),
            "created": signed_prekey.created,
            "expires": signed_prekey.expires,
            "signature": signed_prekey.signature.hex(),
        },
        "one_time_prekeys": [{"id": p.id, "public": p.public.hex()} for p in one_time_prekeys],
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
    if version != BUNDLE_VERSION:
        raise errors.UnsupportedVersionError(f"unsupported key bundle version {version}")


def parse_bundle(text: str | bytes) -> BundleFields:
    """Parse bundle JSON strictly into fields (no signature check here).

    Raises:
        UnsupportedVersionError: the version is not 1.
        BundleError: anything else is malformed.
    """
    document = _load(text)
    _check_header(document)
    top = _object(document, _TOP_KEYS, "bundle")
    spk = _object(top["signed_prekey"], _SPK_KEYS, "signed_prekey")
    signed = SignedPrekeyPublic(
        id=_int(spk["id"], "signed_prekey.id"),
        public=_hex(spk["public"], 32, "signed_prekey.public"),
        created=_int(spk["created"], "signed_prekey.created"),
        expires=_int(spk["expires"], "signed_prekey.expires"),
        signature=_hex(spk["signature"], 64, "signed_prekey.signature"),
    )
    raw_opks = top["one_time_prekeys"]
    if not isinstance(raw_opks, list):
        raise errors.BundleError("one_time_prekeys must be a JSON array")
    opks = []
    for item in raw_opks:
        opk = _object(item, _OPK_KEYS, "one-time prekey")
        opks.append(
            OneTimePrekeyPublic(
                _int(opk["id"], "one-time prekey id"), _hex(opk["public"], 32, "one-time prekey")
            )
        )
    if not isinstance(top["name"], str):
        raise errors.BundleError("name must be a string")
    return BundleFields(
        top["name"], _hex(top["identity_key"], 32, "identity_key"), signed, tuple(opks)
    )
