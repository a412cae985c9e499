"""ClientApp side: a Flower mod that unseals instructions and seals replies.

The mod holds only strings and flags, so Flower's engines can ship it to worker
processes; each process keeps one open KeyStore handle per node (see
:mod:`.client_keys`). An instruction is opened only in its expected context
(:mod:`.binding`) and only if it is not older than one the node already accepted
(:mod:`.seen`); the reply is sealed to the server's fresh bundle carried inside the
authenticated instruction. Whatever the ClientApp raises stays on the node: the server
gets a sealed error reply (:mod:`.app_errors`), never the exception text in the clear.
With sessions on (:mod:`.sessions`), the reply is a sealed start until the server used
the node's session, then a ratchet message; an instruction through the session (alone,
or as a ticket to a shared broadcast body, :mod:`.tickets`) is opened and its inner
context checked the same way before the app sees it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flwr.app import ConfigRecord, Context, Message
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable, Mod

from sealpack.api import seal
from sealpack.integrations.flower.app_errors import run_app
from sealpack.integrations.flower.binding import (
    WIRE_VERSION,
    hello_metadata,
    instruction_expectation,
    open_bound,
    reply_metadata,
    valid_until,
)
from sealpack.integrations.flower.client_keys import KeySettings, NodeKeys, node_keys
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.schema import InstructionPayload
from sealpack.integrations.flower.sessions import open_instruction
from sealpack.integrations.flower.tickets import open_ticketed
from sealpack.integrations.flower.wire import (
    HELLO_RECORD,
    check_payload,
    unwrap_instruction,
    wrap_blob,
)
from sealpack.keys import KeyBundle
from sealpack.session import Session, is_session_message

__all__ = [
    "DEFAULT_REPLY_EXPIRY",
    "HELLO_ACTION",
    "HELLO_MESSAGE_TYPE",
    "SealpackClientMod",
    "client_mod",
    "sealed_client_app",
]

HELLO_ACTION = "sealpack_hello"
HELLO_MESSAGE_TYPE = f"query.{HELLO_ACTION}"
DEFAULT_REPLY_EXPIRY = 3600
"""Seconds a sealed reply (or hello answer) stays valid: one round, not a week."""
_CHALLENGE_SIZES = range(16, 65)
MAX_ROTATION_HORIZON = 7 * 86400
"""A hello asking for a bundle valid longer than this (seconds) triggers no rotation."""


class SealpackClientMod:
    """Flower ClientApp mod sealing everything between this node and the ServerApp.

    Incoming instructions must be sealed by the pinned ServerApp identity for this
    node, run, message type and round, and be no older than one already accepted;
    the app sees the unsealed RecordDict. The reply is sealed back to the ServerApp.
    Anything else raises (fail closed).
    """

    def __init__(
        self,
        *,
        keystore: str | None = None,
        server_bundle: str | None = None,
        passphrase_env: str | None = None,
        keep_open: bool = True,
        reply_expiry: int = DEFAULT_REPLY_EXPIRY,
        error_details: bool = False,
        sessions: bool = True,
    ) -> None:
        """Create the mod; unset key settings are read from the node config (never run config).

        Args:
            keystore: KeyStore directory template (see keyconfig), e.g. ``/k/node-{partition-id}``.
            server_bundle: Path of the ServerApp's KeyBundle JSON (the pin).
            passphrase_env: Environment variable holding the KeyStore passphrase.
            keep_open: Keep one KeyStore handle open per process (one passphrase KDF per
                process instead of one per message).
            reply_expiry: Seconds a sealed reply stays valid.
            error_details: Seal the text of a ClientApp exception to the server (default:
                only its type name; the text may hold private data).
            sessions: Answer through a ratchet session with the server when it offers
                one (issue 15); False keeps every reply a sealed blob.
        """
        self.keystore = keystore
        self.server_bundle = server_bundle
        self.passphrase_env = passphrase_env
        self.keep_open = keep_open
        self.reply_expiry = reply_expiry
        self.error_details = error_details
        self.sessions = sessions

    def __call__(self, message: Message, context: Context, call_next: ClientAppCallable) -> Message:
        """Unseal ``message``, run the app on its content, seal the app's reply.

        Raises:
            RefusedMessageError: The message is unsealed or bound to another node.
            ContextMismatchError: The sealed instruction belongs to another context or
                is older than one this node already accepted (nothing recorded).
            SealpackError: Unsealing failed (tampered, untrusted, replayed, expired).
        """
        settings = KeySettings(self.keystore, self.server_bundle, self.passphrase_env)
        with node_keys(settings, context.node_config, keep_open=self.keep_open) as keys:
            if message.metadata.message_type == HELLO_MESSAGE_TYPE:
                return self._answer_hello(message, context, keys)
            return self._run_sealed(message, context, call_next, keys)

    def _run_sealed(
        self, message: Message, context: Context, call_next: ClientAppCallable, keys: NodeKeys
    ) -> Message:
        """Unseal an instruction, hand its content to the app, seal the app's outcome."""
        meta, node_id = message.metadata, _own_node_id(message, context)
        blob, body = unwrap_instruction(message.content)
        server_key = keys.server.key_id
        expect = instruction_expectation(
            meta.run_id,
            meta.message_type,
            meta.group_id,
            node_id,
            keys.seen.last(server_key, meta.run_id),
        )
        payload, seq = self._open_instruction(blob, body, keys, expect)
        checked = check_payload(payload, kind="instruction")
        request = checked.get("request")
        if not isinstance(request, bytes) or len(request) != 16:
            raise RefusedMessageError("sealed instruction names no request")
        server = fresh_server_bundle(checked.get("server"), keys.server)
        keys.seen.advance(server_key, meta.run_id, seq)
        outcome = run_app(message, context, call_next, checked.get("content"), self.error_details)
        sealed = {"v": WIRE_VERSION, "kind": "reply", "request": request, **outcome}
        bound = reply_metadata(meta.run_id, meta.message_type, meta.group_id, node_id, request)
        listed = checked.get("sessions")
        blob = self._seal_reply(sealed, bound, server, keys, (node_id, listed))
        content = wrap_blob(blob, kind="reply", sender=keys.name, request=request)
        return Message(content, reply_to=message)

    def _open_instruction(
        self,
        blob: bytes,
        body: bytes | None,
        keys: NodeKeys,
        expect: Callable[[Mapping[str, Any]], bool],
    ) -> tuple[object, int]:
        """A sealed, ratchet or ticketed (with ``body``) instruction's payload and seq."""
        if is_session_message(blob):
            if not self.sessions:
                raise RefusedMessageError("ratchet instruction, but this node has sessions off")
            session = Session(keys.store, keys.server)
            if body is not None:
                return open_ticketed(session, blob, body, expect)
            return open_instruction(session, blob, expect)
        if body is not None:
            raise RefusedMessageError("a broadcast body comes only with a ticket")
        payload, info = open_bound(
            blob, recipient=keys.store, sender=keys.server, expect=expect, shape=InstructionPayload
        )
        return payload, int(info.metadata["seq"])

    def _seal_reply(
        self,
        sealed: dict[str, object],
        bound: dict[str, Any],
        server: KeyBundle,
        keys: NodeKeys,
        offer: tuple[int, object],
    ) -> bytes:
        """The reply: sealed, or a sealed start, or a ratchet message with its context inside.

        ``offer`` is this node's id and the server's list of nodes it holds a session
        with (absent: the server has sessions off); a node missing from it starts anew.
        """
        node, listed = offer
        if not self.sessions or not isinstance(listed, list):
            return seal(
                sealed,
                sender=keys.store.identity,
                recipients=[server],
                metadata=bound,
                expires_in=self.reply_expiry,
            )
        session = Session(keys.store, server)
        if node not in listed and session.established:
            session.forget()  # the server lost our session: start a new one
        # a ratchet message with the context inside, or a sealed start that also signs
        # it as metadata (decided under the store lock)
        start_options = {"metadata": bound, "expires_in": self.reply_expiry}
        return session.seal({**sealed, "context": bound}, start_options=start_options)

    def _answer_hello(self, message: Message, context: Context, keys: NodeKeys) -> Message:
        """Prove this node's identity to the ServerApp and hand it a fresh bundle."""
        record = message.content.get(HELLO_RECORD)
        if not isinstance(record, ConfigRecord):
            raise RefusedMessageError("malformed sealpack hello")
        challenge = record.get("challenge")
        if not isinstance(challenge, bytes) or len(challenge) not in _CHALLENGE_SIZES:
            raise RefusedMessageError("malformed sealpack hello")
        server = fresh_server_bundle(record.get("server-bundle"), keys.server)
        node = _own_node_id(message, context)
        keys.store.refresh()  # a kept handle hands out what is on disk (rotations elsewhere)
        _rotate_if_asked(keys, record.get("valid-until"))
        payload = {
            "v": WIRE_VERSION,
            "kind": "hello",
            "bundle": keys.store.identity.bundle().to_json(),
        }
        blob = seal(
            payload,
            sender=keys.store.identity,
            recipients=[server],
            metadata=hello_metadata(message.metadata.run_id, node, challenge),
            expires_in=self.reply_expiry,
        )
        return Message(wrap_blob(blob, kind="hello", sender=keys.name), reply_to=message)


def fresh_server_bundle(bundle_json: object, pin: KeyBundle) -> KeyBundle:
    """The server's current bundle, if it belongs to the pinned identity (OPKs stripped).

    Args:
        bundle_json: The bundle JSON the server sent (in a hello or a sealed instruction).
        pin: The pinned server bundle (only its name and identity key are used).

    Returns:
        The fresh bundle without one-time prekeys (several nodes seal to it at once).

    Raises:
        RefusedMessageError: Missing, or another identity than the pin.
        BundleError: Malformed, badly signed or expired.
    """
    if not isinstance(bundle_json, str):
        raise RefusedMessageError("the ServerApp sent no bundle")
    fresh = KeyBundle.from_json(bundle_json)
    if not hmac.compare_digest(fresh.identity_key, pin.identity_key) or fresh.name != pin.name:
        raise RefusedMessageError("bundle comes from a ServerApp identity that is not pinned")
    return fresh.with_one_time_prekeys(())


def _rotate_if_asked(keys: NodeKeys, wanted: object) -> None:
    """Rotate the node's signed prekey when it expires before the server's horizon.

    The hint is public (a relay may change it), so it only ever triggers a rotation
    that a fresh prekey satisfies, and at most one per hello.
    """
    identity = keys.store.identity
    if type(wanted) is not int:
        return
    now = int(time.time())
    if valid_until(identity.bundle()) < wanted <= now + MAX_ROTATION_HORIZON:
        identity.rotate_signed_prekey()


def _own_node_id(message: Message, context: Context) -> int:
    node_id = message.metadata.dst_node_id
    if node_id != context.node_id:
        raise RefusedMessageError("message is addressed to another node")
    return int(node_id)


client_mod: Mod = SealpackClientMod()
"""The mod configured entirely from node_config."""


def sealed_client_app(*, mod: Mod | None = None, mods: Sequence[Mod] = ()) -> ClientApp:
    """Create a ClientApp whose every function runs behind the sealpack mod.

    Registers the ``query.sealpack_hello`` handshake (answered by the mod itself).

    Args:
        mod: The sealpack mod to use (default: :data:`client_mod`).
        mods: Further mods, applied inside the sealpack mod (they see plaintext).

    Returns:
        A ClientApp to decorate with ``@app.train()`` etc.
    """
    app = ClientApp(mods=[mod if mod is not None else client_mod, *mods])

    @app.query(HELLO_ACTION)
    def _hello(message: Message, context: Context) -> Message:
        raise RefusedMessageError("the sealpack mod must answer the hello (is it installed?)")

    return app
