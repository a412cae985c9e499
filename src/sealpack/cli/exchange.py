"""CLI commands for datasite exchange: ``peer init``, ``send``, ``receive``, ``trust``.

The key store (one identity) lives outside the datasite, one per peer name:
``--keystore DIR``, else ``$SEALPACK_KEYSTORE``, else
``~/.sealpack/keystores/<name>`` where ``<name>`` is ``peer init``'s NAME or
``--as NAME`` (optional when exactly one key store exists there). Its passphrase
comes from ``$SEALPACK_PASSPHRASE`` or an interactive prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from sealpack import errors
from sealpack.exchange.contacts import published_status
from sealpack.exchange.keystores import KEYSTORE_ENV, keystores_home, resolve_keystore
from sealpack.exchange.peer import Message, Peer
from sealpack.exchange.received import save_received
from sealpack.keys import Identity, KeyStore, fingerprint

__all__ = [
    "KEYSTORE_ENV",
    "PASSPHRASE_ENV",
    "keystores_home",
    "read_passphrase",
    "register",
    "resolve_keystore",
]

PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 - an env var name


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


def _open_store(args: argparse.Namespace) -> KeyStore:
    path = resolve_keystore(args.keystore, args.as_peer)
    store = KeyStore.open(path, passphrase=read_passphrase())
    if args.as_peer is not None and store.identity.name != args.as_peer:
        name = store.identity.name
        store.close()
        raise errors.KeyStoreError(f"key store {path} holds {name!r}, not {args.as_peer!r}")
    return store


def _open_peer(args: argparse.Namespace, *, trust_new_peers: bool = True) -> Peer:
    store = _open_store(args)
    return Peer(store.identity.name, args.root, store, trust_new_peers=trust_new_peers)


def _peer_init(args: argparse.Namespace) -> int:
    """``peer init NAME``: create an identity and key store, publish the bundle.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.SealpackError: non-empty key store, bad passphrase, unusable datasite.
    """
    path = resolve_keystore(args.keystore, args.name)
    if path.exists() and any(path.iterdir()):
        raise errors.KeyStoreError(f"key store {path} already exists")
    identity = Identity.generate(args.name, one_time_prekeys=args.prekeys)
    store = KeyStore.create(path, identity, passphrase=read_passphrase(confirm=True))
    peer = Peer(args.name, args.root, store)
    print(f"peer {peer.name} published to {args.root}")
    print(f"fingerprint {identity.fingerprint()}")
    print(f"key store {path}")
    return 0


def _send(args: argparse.Namespace) -> int:
    """``send --to NAME FILE``: seal a file's bytes to each recipient's inbox.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.SealpackError: unreadable file; unknown, untrusted or bad recipient.
    """
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


def _announce(peer: Peer, message: Message, out_dir: Path) -> None:
    saved = save_received(message, out_dir)
    if message.first_contact:
        pinned = peer.trust.pinned_key(message.sender)
        shown = fingerprint(pinned) if pinned else "?"
        print(f"first contact: pinned {message.sender} {shown}; compare it out of band")
    print(f"from {message.sender}: {saved}", flush=True)


def _receive(args: argparse.Namespace) -> int:
    """``receive``: save verified files, report first contacts and new quarantine.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.SealpackError: unusable key store, inbox or output folder.
    """
    peer = _open_peer(args, trust_new_peers=not args.no_trust_new)
    out_dir = Path(args.out)
    earlier = {record.message_id for record in peer.quarantined()}
    messages = peer.watch(timeout=args.timeout) if args.watch else peer.iter_messages()
    count = 0
    try:
        for message in messages:
            count += 1
            _announce(peer, message, out_dir)
    except KeyboardInterrupt:
        if not args.watch:
            raise
    for record in peer.quarantined():
        if record.message_id not in earlier:
            print(f"quarantined {record.message_id}: {record.reason}", file=sys.stderr)
            if record.reason == "untrusted":
                print(
                    f"  trust it with: sealpack trust accept {record.sender_hint}", file=sys.stderr
                )
    peer.replenish_prekeys()
    if not args.watch:
        print(f"{count} message(s) received")
    return 0


def _trust_list(args: argparse.Namespace) -> int:
    """``trust list``: print pinned peers (and, with ``--root``, their published state).

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.KeyStoreError: the key store cannot be opened.
    """
    store = _open_store(args)
    trust = store.trust_store
    for name in trust.names():
        pinned = trust.pinned_key(name)
        line = f"{name}  {fingerprint(pinned) if pinned else '?'}"
        if args.root is not None and pinned is not None:
            line += published_status(args.root, name, pinned)
        print(line)
    store.close()
    return 0


def _trust_accept(args: argparse.Namespace) -> int:
    """``trust accept NAME``: pin the peer's currently published identity.

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.SealpackError: unusable key store; no valid bundle published.
    """
    peer = _open_peer(args)
    previous = peer.trust.pinned_key(args.name)
    bundle = peer.trust_peer(args.name)
    if previous is not None:
        print(f"was     {fingerprint(previous)}")
    print(f"trusted {bundle.name}  {bundle.fingerprint()}")
    return 0


def _common(
    parser: argparse.ArgumentParser, *, root_required: bool = True, own: bool = True
) -> None:
    parser.add_argument("--root", required=root_required, default=None, help="datasite folder")
    parser.add_argument(
        "--keystore",
        type=Path,
        default=None,
        help=f"key store folder (default: ${KEYSTORE_ENV}, else ~/.sealpack/keystores/NAME)",
    )
    if own:
        parser.add_argument(
            "--as", dest="as_peer", default=None, metavar="NAME", help="this peer's name"
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``peer``, ``send``, ``receive`` and ``trust`` to the ``sealpack`` command.

    Args:
        subparsers: the top-level sub-command registry.
    """
    _register_peer_and_send(subparsers)
    _register_receive(subparsers)
    _register_trust(subparsers)


def _register_peer_and_send(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    peer = subparsers.add_parser("peer", help="manage this peer").add_subparsers(
        dest="peer_command", metavar="ACTION", required=True
    )
    init = peer.add_parser("init", help="create an identity and publish it")
    init.add_argument("name")
    init.add_argument("--prekeys", type=int, default=100, help="one-time prekeys")
    _common(init, own=False)
    init.set_defaults(handler=_peer_init)

    send = subparsers.add_parser("send", help="seal a file to peers' inboxes")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("file")
    _common(send)
    send.set_defaults(handler=_send)


def _register_receive(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    receive = subparsers.add_parser("receive", help="open verified messages")
    receive.add_argument("--watch", action="store_true", help="keep polling")
    receive.add_argument("--timeout", type=float, default=None, help="stop watching after S")
    receive.add_argument("--out", default=".", help="folder for received files")
    receive.add_argument(
        "--no-trust-new",
        action="store_true",
        help="quarantine messages from peers not pinned yet (reason 'untrusted')",
    )
    _common(receive)
    receive.set_defaults(handler=_receive)


def _register_trust(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trust = subparsers.add_parser("trust", help="pinned peer identities").add_subparsers(
        dest="trust_command", metavar="ACTION", required=True
    )
    listing = trust.add_parser("list", help="show pinned peers and fingerprints")
    _common(listing, root_required=False)
    listing.set_defaults(handler=_trust_list)
    accept = trust.add_parser("accept", help="trust a peer's current identity")
    accept.add_argument("name")
    _common(accept)
    accept.set_defaults(handler=_trust_accept)
