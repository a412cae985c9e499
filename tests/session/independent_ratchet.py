"""A second, minimal Double Ratchet receiver written from docs/spec/session.md and
Signal's specification alone (pyca primitives, nothing of sealpack.session), used to
open vectors/ratchet.json independently of the implementation that made it."""

from __future__ import annotations

import copy
import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt, info).derive(ikm)


def dh(private: bytes, public: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.exchange(X25519PublicKey.from_public_bytes(public))


def public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    out = hkdf(dh_out, rk, b"sealpack/v2/session-root", 64)
    return out[:32], out[32:]


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    return hmac.new(ck, b"\x02", hashlib.sha256).digest(), hmac.new(
        ck, b"\x01", hashlib.sha256
    ).digest()


class Receiver:
    """One side's receiving state; ``generate`` yields its next ratchet private key."""

    def __init__(self, ad_keys: bytes, generate: Callable[[], bytes], max_stored: int) -> None:
        self.ad_keys, self.generate, self.max_stored = ad_keys, generate, max_stored
        self.s: dict[str, Any] = {"ckr": None, "dhr": None, "nr": 0, "skipped": {}}

    def open(self, message: bytes) -> bytes:
        """Open one message; the state changes only when it opens."""
        s = copy.deepcopy(self.s)
        magic, version, _flags, _sid, key, pn, n = struct.unpack(">8sBB16s32sII", message[:66])
        assert magic == b"SEALSESS" and version == 2
        mk = s["skipped"].pop((key, n), None)
        if mk is None:
            if key != s["dhr"]:
                self._skip(s, pn)
                s["dhr"] = key
                s["rk"], s["ckr"] = kdf_rk(s["rk"], dh(s["dhs"], key))
                s["dhs"] = self.generate()
                s["rk"], _cks = kdf_rk(s["rk"], dh(s["dhs"], key))
                s["nr"] = 0
            self._skip(s, n)
            s["ckr"], mk = kdf_ck(s["ckr"])
            s["nr"] += 1
        aead_key = hkdf(mk, bytes(32), b"sealpack/v2/session-message", 32)
        ad = b"sealpack/v2/session\x00" + self.ad_keys + message[:66]
        body = AESGCM(aead_key).decrypt(message[66:78], message[78:], ad)
        self.s = s
        return body

    def _skip(self, s: dict[str, Any], until: int) -> None:
        while s["ckr"] is not None and s["nr"] < until:
            s["ckr"], mk = kdf_ck(s["ckr"])
            s["skipped"][(s["dhr"], s["nr"])] = mk
            s["nr"] += 1
            while len(s["skipped"]) > self.max_stored:
                del s["skipped"][next(iter(s["skipped"]))]
