"""ClientApp side: a Flower mod that unseals instructions and seals replies.

The mod holds only strings (paths, env var names), so Flower's engines can ship
it to worker processes; keys are opened from the KeyStore per message, which
keeps one-time-prekey use and replay memory durable across processes.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from flwr.app import ConfigRecord, Context, Message
from flwr.app.message import make_message
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable, Mod

from sealpack.api import seal, unseal
from sealpack.integrations.flower import keyconfig
from sealpack.integrations.flower.errors import RefusedMessageError
from sealpack.integrations.flower.records import plain_to_recorddict, recorddict_to_plain
from sealpack.integrations.flower.wire import (
    HELLO_RECORD,
    WIRE_VERSION,
    check_payload,
    unwrap_blob,
    wrap_blob,
)
from sealpack.keys import KeyBundle, KeyStore

__all__ = [
    "HELLO_ACTION",
    "HELLO_MESSAGE_TYPE",
    "SealpackClientMod",
    "client_mod",
    "sealed_client_app",
]

HELLO_ACTION = "sealpack_hello"
HELLO_MESSAGE_TYPE = f"query.{HELLO_ACTION}"


@dataclass(frozen=True)
class _NodeKeys:
    store: KeyStore
    server: KeyBundle  # pinned ServerApp bundle, one-time prekeys stripped

    @property
    def name(self) -> str:
        return self.store.identity.name


class SealpackClientMod:
    """Flower ClientApp mod sealing everything between this node and the ServerApp.

    Incoming instructions must be sealed by the pinned ServerApp identity for this
    node, run, message type and round; the app sees the unsealed RecordDict. The
    reply is sealed back to the ServerApp. Anything else raises (fail closed).
    """

    def __init__(
        self,
        *,
        keystore: str | None = None,
        server_bundle: str | None = None,
        passphrase_env: str | None = None,
    ) -> None:
        """Create the mod; unset arguments are read from the node/run config.

        Args:
            keystore: KeyStore directory template (see keyconfig), e.g. ``/k/node-{partition-id}``.
            server_bundle: Path of the ServerApp's KeyBundle JSON.
            passphrase_env: Environment variable holding the KeyStore passphrase.
        """
        self.keystore = keystore
        self.server_bundle = server_bundle
        self.passphrase_env = passphrase_env

    def __call__(self, message: Message, context: Context, call_next: ClientAppCallable) -> Message:
        """Unseal ``message``, run the app on its content, seal the app's reply.

        Raises:
            RefusedMessageError: The message is unsealed or bound to another context.
            SealpackError: Unsealing failed (tampered, untrusted, replayed, expired).
        """
        keys = self._load_keys(context)
        try:
            if message.metadata.message_type == HELLO_MESSAGE_TYPE:
                return _answer_hello(message, context, keys)
            return _run_sealed(message, context, call_next, keys)
        finally:
            keys.store.close()

    def _load_keys(self, context: Context) -> _NodeKeys:
        configs = (context.node_config, context.run_config)
        template = keyconfig.require(
            keyconfig.config_value(keyconfig.KEYSTORE, self.keystore, *configs), keyconfig.KEYSTORE
        )
        server_path = keyconfig.require(
            keyconfig.config_value(keyconfig.SERVER_BUNDLE, self.server_bundle, *configs),
            keyconfig.SERVER_BUNDLE,
        )
        passphrase_env = keyconfig.config_value(
            keyconfig.PASSPHRASE_ENV, self.passphrase_env, *configs
        )
        server = keyconfig.load_bundles(server_path)[0].with_one_time_prekeys(())
        store = keyconfig.open_keystore(template, passphrase_env, context.node_config)
        return _NodeKeys(store=store, server=server)


def _run_sealed(
    message: Message, context: Context, call_next: ClientAppCallable, keys: _NodeKeys
) -> Message:
    """Unseal an instruction, hand its content to the app, seal the app's reply."""
    node_id = _own_node_id(message, context)
    blob, _ = unwrap_blob(message.content, kind="instruction")
    payload = check_payload(
        unseal(blob, recipient=keys.store, senders=[keys.server]),
        kind="instruction",
        expected=_context_fields(message),
    )
    nodes = payload.get("nodes")
    if not isinstance(nodes, list) or node_id not in nodes:
        raise RefusedMessageError("sealed instruction is not addressed to this node")
    inner = make_message(message.metadata, content=plain_to_recorddict(payload.get("content")))
    reply = call_next(inner, context)
    if reply.has_error():
        return reply
    sealed = {
        "v": WIRE_VERSION,
        "kind": "reply",
        **_context_fields(message),
        "node": node_id,
        "request": payload.get("request"),
        "content": recorddict_to_plain(reply.content),
    }
    blob = seal(sealed, sender=keys.store.identity, recipients=[keys.server])
    return make_message(reply.metadata, content=wrap_blob(blob, kind="reply", sender=keys.name))


def _own_node_id(message: Message, context: Context) -> int:
    node_id = message.metadata.dst_node_id
    if node_id != context.node_id:
        raise RefusedMessageError("message is addressed to another node")
    return int(node_id)


def _context_fields(message: Message) -> dict[str, object]:
    meta = message.metadata
    return {"run_id": meta.run_id, "message_type": meta.message_type, "group_id": meta.group_id}


def _answer_hello(message: Message, context: Context, keys: _NodeKeys) -> Message:
    """Prove this node's identity to the ServerApp and hand it a fresh bundle."""
    record = message.content.get(HELLO_RECORD)
    challenge = record.get("challenge") if isinstance(record, ConfigRecord) else None
    if not isinstance(challenge, bytes) or len(challenge) < 16:
        raise RefusedMessageError("malformed sealpack hello")
    server = keys.server
    fresh_json = record.get("server-bundle") if isinstance(record, ConfigRecord) else None
    if isinstance(fresh_json, str):
        fresh = KeyBundle.from_json(fresh_json)
        if not hmac.compare_digest(fresh.identity_key, server.identity_key):
            raise RefusedMessageError("hello comes from a ServerApp identity that is not pinned")
        server = fresh.with_one_time_prekeys(())
    payload = {
        "v": WIRE_VERSION,
        "kind": "hello",
        "run_id": message.metadata.run_id,
        "node": _own_node_id(message, context),
        "challenge": challenge,
        "bundle": keys.store.identity.bundle().to_json(),
    }
    blob = seal(payload, sender=keys.store.identity, recipients=[server])
    return Message(content=wrap_blob(blob, kind="hello", sender=keys.name), reply_to=message)


client_mod: Mod = SealpackClientMod()
"""The mod configured entirely from node_config / run_config."""


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
