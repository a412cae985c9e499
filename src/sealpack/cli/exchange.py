"""CLI commands for datasite exchange: ``peer init``, ``send``, ``receive``, ``trust``.

The key store (one identity) lives outside the datasite: ``--keystore DIR``,
default ``$SEALPACK_KEYSTORE`` or ``~/.sealpack/keystore``. Its passphrase comes
from ``$SEALPACK_PASSPHRASE`` or an interactive prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from sealpack import errors
from sealpack.exchange.atomic import write_atomic
from sealpack.exchange.peer import Message, Peer
from sealpack.keys import Identity, KeyStore, fingerprint

__all__ = ["register"]

PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 - an env var name
KEYSTORE_ENV = "SEALPACK_KEYSTORE"


def default_keystore() -> Path:
    """Return the key store folder used when ``--keystore`` is not given."""
    configured = os.environ.get(KEYSTORE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".sealpack" / "keystore"


def read_passphrase(*, confirm: bool = False) -> bytes:
    """Read the passphrase from the environment or prompt for it.

    Args:
        confirm: prompt twice and require both entries to match.

    Returns:
        The passphrase as UTF-8 bytes.

    Raises:
        errors.KeyStoreError: the confirmation differs or the passphrase is empty.
    """
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env is not None:
        return from_env.encode("utf-8")
    first = getpass.getpass("sealpack passphrase: ")
    if confirm and getpass.getpass("repeat passphrase: ") != first:
        raise errors.KeyStoreError("passphrases do not match")
    if not first:
        raise errors.KeyStoreError(f"empty passphrase (set {PASSPHRASE_ENV} or type one)")
    return first.encode("utf-8")


def _open_peer(args: argparse.Namespace) -> Peer:
    store = KeyStore.open(args.keystore, passphrase=read_passphrase())
    identity = store.identity
    return Peer(identity.name, args.root, store)


def _peer_init(args: argparse.Namespace) -> int:
    if Path(args.keystore).exists() and any(Path(args.keystore).iterdir()):
        raise errors.KeyStoreError(f"key store {args.keystore} already exists")
    identity = Identity.generate(args.name, one_time_prekeys=args.prekeys)
    store = KeyStore.create(args.keystore, identity, passphrase=read_passphrase(confirm=True))
    peer = Peer(args.name, args.root, store)
    print(f"peer {peer.name} published to {args.root}")
    print(f"fingerprint {identity.fingerprint()}")
    return 0


def _send(args: argparse.Namespace) -> int:
    peer = _open_peer(args)
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise errors.TransportError(f"cannot read {path}: {error.strerror}") from error
    ids = peer.send(content, to=args.to, metadata={"filename": path.name}, stream=True)
    for name, message_id in zip(dict.fromkeys(args.to), ids, strict=True):
        print(f"sent {path.name} to {name} ({message_id})")
    return 0


def _save(message: Message, out_dir: Path) -> str:
    """Write a received file's bytes under ``out_dir/<sender>/``; return a summary."""
    if not isinstance(message.obj, (bytes, bytearray)):
        return f"{type(message.obj).__name__} object (not saved)"
    raw_name = str(message.metadata.get("filename", "message.bin"))
    safe_name = Path(raw_name).name.lstrip(".") or "message.bin"
    folder = out_dir / message.sender
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / safe_name, bytes(message.obj), mode=0o600)
    return str(folder / safe_name)


def _receive(args: argparse.Namespace) -> int:
    peer = _open_peer(args)
    out_dir = Path(args.out)
    earlier = {record.message_id for record in peer.quarantined()}
    messages = peer.watch(timeout=args.timeout) if args.watch else peer.iter_messages()
    count = 0
    try:
        for message in messages:
            count += 1
            print(f"from {message.sender}: {_save(message, out_dir)}", flush=True)
    except KeyboardInterrupt:
        if not args.watch:
            raise
    for record in peer.quarantined():
        if record.message_id not in earlier:
            print(f"quarantined {record.message_id}: {record.reason}", file=sys.stderr)
    peer.replenish_prekeys()
    if not args.watch:
        print(f"{count} message(s) received")
    return 0


def _trust_list(args: argparse.Namespace) -> int:
    store = KeyStore.open(args.keystore, passphrase=read_passphrase())
    trust = store.trust_store
    for name in trust.names():
        pinned = trust.pinned_key(name)
        print(f"{name}  {fingerprint(pinned) if pinned else '?'}")
    return 0


def _trust_accept(args: argparse.Namespace) -> int:
    peer = _open_peer(args)
    previous = peer.trust.pinned_key(args.name)
    bundle = peer.trust_peer(args.name)
    if previous is not None:
        print(f"was     {fingerprint(previous)}")
    print(f"trusted {bundle.name}  {bundle.fingerprint()}")
    return 0


def _common(parser: argparse.ArgumentParser, *, root: bool = True) -> None:
    if root:
        parser.add_argument("--root", required=True, help="datasite folder")
    parser.add_argument(
        "--keystore", type=Path, default=default_keystore(), help="key store folder"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``peer``, ``send``, ``receive`` and ``trust`` to the ``sealpack`` command.

    Args:
        subparsers: the top-level sub-command registry.
    """
    peer = subparsers.add_parser("peer", help="manage this peer").add_subparsers(
        dest="peer_command", metavar="ACTION", required=True
    )
    init = peer.add_parser("init", help="create an identity and publish it")
    init.add_argument("name")
    init.add_argument("--prekeys", type=int, default=100, help="one-time prekeys")
    _common(init)
    init.set_defaults(handler=_peer_init)

    send = subparsers.add_parser("send", help="seal a file to peers' inboxes")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("file")
    _common(send)
    send.set_defaults(handler=_send)

    receive = subparsers.add_parser("receive", help="open verified messages")
    receive.add_argument("--watch", action="store_true", help="keep polling")
    receive.add_argument("--timeout", type=float, default=None, help="stop watching after S")
    receive.add_argument("--out", default=".", help="folder for received files")
    _common(receive)
    receive.set_defaults(handler=_receive)

    trust = subparsers.add_parser("trust", help="pinned peer identities").add_subparsers(
        dest="trust_command", metavar="ACTION", required=True
    )
    listing = trust.add_parser("list", help="show pinned peers and fingerprints")
    _common(listing, root=False)
    listing.set_defaults(handler=_trust_list)
    accept = trust.add_parser("accept", help="trust a peer's current identity")
    accept.add_argument("name")
    _common(accept)
    accept.set_defaults(handler=_trust_accept)
