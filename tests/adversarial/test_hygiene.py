"""Secret hygiene: no key byte in any repr, str, exception or log record of a full cycle.

The cycle: create a key store, seal to two recipients, open, then provoke every error
the API has. Every secret involved (identity seeds and their X25519 forms, signed and
one-time prekeys, ephemeral keys, content key, X3DH shared keys, chunk keys, the key
store's file key and passphrase) is searched for as hex, HEX, base64, urlsafe base64
and Python bytes-literal text in everything the cycle produced.
"""

from __future__ import annotations

import base64
import copy
import logging
import os
import pickle
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from sealpack import api, errors, x3dh
from sealpack.envelope import stream, suite
from sealpack.keys import Identity, KeyBundle, KeyStore, PrivateKeyExportError
from sealpack.keys.secret import export_raw
from tests.adversarial.samples import NOW, Point, codec, split

PASSPHRASE = b"hygiene passphrase 1234"


def _identity_secrets(identity: Identity) -> list[bytes]:
    state = identity._state
    found = [export_raw(state.seed), export_raw(state.seed.x25519)]
    found += [export_raw(spk.secret) for spk in state.signed_prekeys.values()]
    found += [export_raw(opk.secret) for opk in state.one_time_prekeys.values()]
    return found


def _forms(secret: bytes) -> list[str]:
    texts = [
        secret.hex(),
        secret.hex().upper(),
        secret[:12].hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        base64.b64encode(secret[:12]).decode(),
        repr(secret)[2:-1],
    ]
    return [text for text in texts if len(text) >= 16]


class _Recorder:
    """Records secrets derived inside the library (shared keys, chunk keys)."""

    def __init__(self) -> None:
        self.secrets: list[bytes] = []
        self.random: list[bytes] = []

    def rng(self, n: int) -> bytes:
        data = os.urandom(n)
        self.random.append(data)
        return data

    def patches(self) -> list[Any]:
        real_wrap, real_unwrap, real_derive = (
            suite.wrap_content_key,
            suite.unwrap_content_key,
            stream._derive,
        )

        def wrap(shared: bytes, ad: bytes, key: bytes) -> bytes:
            self.secrets += [shared, key]
            return real_wrap(shared, ad, key)

        def unwrap(shared: bytes, ad: bytes, wrapped: bytes) -> bytes:
            key = real_unwrap(shared, ad, wrapped)
            self.secrets += [shared, key]
            return key

        def derive(key: bytes, salt: bytes, context: bytes) -> tuple[bytes, int, bytes]:
            result = real_derive(key, salt, context)
            self.secrets += [key, result[0]]
            return result

        return [
            mock.patch.object(suite, "wrap_content_key", wrap),
            mock.patch.object(suite, "unwrap_content_key", unwrap),
            mock.patch.object(stream, "_derive", derive),
        ]


def _describe_error(call: Callable[[], object], texts: list[str]) -> None:
    try:
        call()
    except errors.SealpackError as error:
        texts += [str(error), repr(error), *traceback.format_exception(error)]
    else:
        pytest.fail("the error cycle expected a failure")


def _cycle(tmp_path: Path, recorder: _Recorder) -> tuple[list[str], list[bytes]]:
    texts: list[str] = []
    alice = Identity.generate("alice", one_time_prekeys=2, now=NOW - 60, rng=recorder.rng)
    carol = Identity.generate("carol", one_time_prekeys=1, now=NOW - 60, rng=recorder.rng)
    bob_identity = Identity.generate("bob", one_time_prekeys=2, now=NOW - 60, rng=recorder.rng)
    secrets = [*_identity_secrets(alice), *_identity_secrets(carol)]
    secrets += _identity_secrets(bob_identity)
    store = KeyStore.create(tmp_path / "bob", bob_identity, passphrase=PASSPHRASE, scrypt_n=2**10)
    assert store._file_key is not None
    secrets += [export_raw(store._file_key), PASSPHRASE]
    bundles = [store.identity.bundle(), carol.bundle()]
    obj = {"weights": [1.0, 2.0], "point": Point(1, 2.0)}
    blob = api.seal(
        obj,
        sender=alice,
        recipients=bundles,
        metadata={"r": 1},
        now=NOW,
        codec=codec(),
        rng=recorder.rng,
    )
    opened, info = api.unseal(
        blob, recipient=store, senders=[alice.bundle()], now=NOW, with_metadata=True, codec=codec()
    )
    assert opened == obj
    header = split(blob)[0]
    stanza = header.stanzas[1]
    agreed = x3dh.respond(
        carol,
        x3dh.X3DHHeader(
            alice.public_identity_key,
            stanza.ephemeral_key,
            stanza.signed_prekey_id,
            stanza.one_time_prekey_id,
            stanza.pq_prekey_id,
            stanza.kem_ciphertext,
        ),
        context=suite.stanza_context(header.core_bytes),
        now=NOW,
    )
    objects: list[Any] = [
        alice,
        carol,
        store,
        store.identity,
        *bundles,
        info,
        header,
        agreed,
        api.inspect(blob),
        api.inspect(blob).as_dict(),
        store.trust_store,
        store.identity.replay_guard,
        api.SecureSerializer(alice, bundles),
        alice._state,
        store.identity._state.signed_prekeys,
    ]
    texts += [repr(o) for o in objects] + [str(o) for o in objects]
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    mallory = Identity.generate("mallory", one_time_prekeys=0, now=NOW - 60)
    impostor = Identity.generate("alice", one_time_prekeys=0, now=NOW - 60)
    errors_to_provoke: list[Callable[[], object]] = [
        lambda: api.unseal(bytes(tampered), recipient=store, senders=[alice.bundle()], now=NOW),
        lambda: api.unseal(blob, recipient=store, senders=[alice.bundle()], now=NOW),
        lambda: api.unseal(blob, recipient=mallory, senders=[alice.bundle()], now=NOW),
        lambda: api.unseal(blob, recipient=carol, senders=[mallory.bundle()], now=NOW),
        lambda: api.unseal(blob, recipient=carol, senders=[alice.bundle()], now=NOW + 10**9),
        lambda: api.unseal(blob, recipient=carol, senders=[alice.bundle()], now=NOW),
        lambda: api.unseal(blob[:100], recipient=carol, senders=[alice.bundle()]),
        lambda: api.unseal(
            api.seal(1, sender=impostor, recipients=[bundles[0]], now=NOW),
            recipient=store,
            senders=[impostor.bundle()],
            now=NOW,
        ),
        lambda: KeyStore.open(tmp_path / "bob", passphrase=b"wrong"),
        lambda: KeyBundle.from_json(bundles[0].to_json()[:-30]),
        lambda: api.seal(object(), sender=alice, recipients=bundles, now=NOW),
        lambda: api.seal(1, sender=alice, recipients=bundles, metadata={"k": object()}, now=NOW),
        lambda: codec(register=False).loads(codec().dumps(Point(1, 2.0))),
        lambda: pickle.dumps(alice),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in errors_to_provoke:
            _describe_error(call, texts)
    texts += [str(w.message) for w in caught]
    store.close()
    return texts, secrets


def test_no_secret_in_any_text_or_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    recorder = _Recorder()
    caplog.set_level(logging.DEBUG)
    patches = recorder.patches()
    for patch in patches:
        patch.start()
    try:
        texts, secrets = _cycle(tmp_path, recorder)
    finally:
        for patch in patches:
            patch.stop()
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    secrets += recorder.secrets
    # rng order when sealing: content key, message id, salt, one ephemeral per recipient;
    # identity generation draws only private keys. Ids and salts are public.
    seal_draws = recorder.random[-5:]
    secrets += [seal_draws[0], *seal_draws[3:]]
    secrets += recorder.random[:-5]
    assert len(recorder.secrets) >= 8 and len(texts) > 40
    haystack = "\n".join(texts)
    for secret in secrets:
        for form in _forms(secret):
            assert form not in haystack, "a secret appears in a repr, message or log"


@pytest.mark.parametrize(
    "attempt", [pickle.dumps, copy.copy, copy.deepcopy], ids=["pickle", "copy", "deepcopy"]
)
def test_key_store_refuses_export(tmp_path: Path, attempt: Callable[[object], object]) -> None:
    """copy.copy used to succeed: a second handle sharing the file key."""
    identity = Identity.generate("bob", one_time_prekeys=1, now=NOW)
    store = KeyStore.create(tmp_path / "s", identity, passphrase=PASSPHRASE, scrypt_n=2**10)
    with store, pytest.raises(PrivateKeyExportError, match="open its directory again"):
        attempt(store)


@pytest.mark.parametrize(
    "attempt", [pickle.dumps, copy.copy, copy.deepcopy], ids=["pickle", "copy", "deepcopy"]
)
def test_chunk_ciphers_refuse_export(attempt: Callable[[object], object]) -> None:
    encryptor = stream.ChunkEncryptor(os.urandom(32))
    decryptor = stream.ChunkDecryptor(bytes(32), stream.ChunkEncryptor(bytes(32)).prefix)
    for holder in (encryptor, decryptor):  # a SealpackError (was a bare TypeError)
        with pytest.raises(PrivateKeyExportError, match="holds key material"):
            attempt(holder)
