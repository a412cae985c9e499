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
from collections.abc import Iterator
from pathlib import Path

from sealpack import errors
from sealpack.cli.envelope import PROGRESS_THRESHOLD, progress_for
from sealpack.exchange.keystores import KEYSTORE_ENV, keystores_home, resolve_keystore
from sealpack.exchange.message_ids import check_peer_name
from sealpack.exchange.peer import Message, Peer
from sealpack.exchange.received import printable, save_received
from sealpack.keys import Identity, KeyStore, fingerprint
from sealpack.progress import ProgressCallback, payload_bars

__all__ = [
    "EXIT_NOT_SAVED",
    "EXIT_QUARANTINED",
    "KEYSTORE_ENV",
    "PASSPHRASE_ENV",
    "keystores_home",
    "read_passphrase",
    "register",
    "resolve_keystore",
]

PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 - an env var name
EXIT_QUARANTINED = 14
"""``sealpack receive`` quarantined at least one blob in this run (listed on stderr)."""
EXIT_NOT_SAVED = 17
"""``sealpack receive`` could not save a verified message (kept for the next run)."""


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


def open_store(args: argparse.Namespace) -> KeyStore:
    path = resolve_keystore(args.keystore, args.as_peer)
    store = KeyStore.open(path, passphrase=read_passphrase())
    if args.as_peer is not None and store.identity.name != args.as_peer:
        name = store.identity.name
        store.close()
        raise errors.KeyStoreError(f"key store {path} holds {name!r}, not {args.as_peer!r}")
    return store


def open_peer(args: argparse.Namespace, *, trust_new_peers: bool = True) -> Peer:
    store = open_store(args)
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
    peer = open_peer(args)
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise errors.TransportError(f"cannot read {path}: {error.strerror}") from error
    with progress_for(args, "sealing", len(content)) as progress:
        ids = peer.send(
            content, to=args.to, metadata={"filename": path.name}, stream=True, progress=progress
        )
    for name, message_id in zip(dict.fromkeys(args.to), ids, strict=True):
        print(f"sent {path.name} to {name} ({message_id})")
    return 0


def _deliver(peer: Peer, message: Message, out_dir: Path) -> bool:
    """Save one message durably, then acknowledge it; a failure leaves it unacknowledged.

    The first-contact notice comes first: the pin is already made, so a failed or
    interrupted save must not lose it.
    """
    if message.first_contact:
        pinned = peer.trust.pinned_key(message.sender)
        shown = fingerprint(pinned) if pinned else "?"
        notice = f"first contact: pinned {message.sender} {shown}; compare it out of band"
        print(printable(notice), flush=True)
    try:
        saved = save_received(message, out_dir)  # written, fsynced (file and folder)
        message.ack()
    except errors.SealpackError as error:
        shown = printable(f"{message.sender} ({message.message_id}): {error}")
        print(f"not saved, kept for the next run: {shown}", file=sys.stderr)
        return False
    again = " (redelivered)" if message.redelivered else ""
    print(printable(f"from {message.sender}: {saved}{again}"), flush=True)
    return True


def _incoming(
    peer: Peer, args: argparse.Namespace, progress: ProgressCallback
) -> Iterator[Message]:
    """The inbox once, or watched (``--watch``), unacknowledged until saved."""
    if args.watch:
        return peer.watch(timeout=args.timeout, auto_ack=False, progress=progress)
    return peer.iter_messages(auto_ack=False, progress=progress)


def _report_quarantine(peer: Peer, earlier: set[str]) -> int:
    """Print the blobs quarantined during this run (escaped); return how many."""
    count = 0
    for record in peer.quarantined():
        if record.message_id in earlier:
            continue
        count += 1
        line = f"quarantined {record.message_id}: {record.reason}"
        print(printable(line), file=sys.stderr)
        if record.reason in ("untrusted", "identity-changed") and _is_peer_name(record.sender_hint):
            hint = record.sender_hint  # a valid name: nothing a shell would run
            print(
                f"  trust it with: sealpack trust accept {hint} --expect 'FINGERPRINT'"
                f" (its fingerprint, compared with {hint} out of band)",
                file=sys.stderr,
            )
    return count


def _is_peer_name(hint: str) -> bool:
    """Whether an (unverified) sender hint is a well-formed peer name, safe to show in a
    command to copy; a reason file is written by whoever writes the synced folder."""
    try:
        check_peer_name(hint)
    except errors.SealpackError:
        return False
    return True


def _receive(args: argparse.Namespace) -> int:
    """``receive``: save verified files (fsync, then acknowledge), report quarantine.

    Args:
        args: the parsed command line.

    Returns:
        0; EXIT_QUARANTINED (14) when this run quarantined a blob; EXIT_NOT_SAVED (17)
        when a verified message could not be saved (it stays for the next run).

    Raises:
        errors.SealpackError: unusable key store, inbox or output folder.
    """
    peer = open_peer(args, trust_new_peers=not args.no_trust_new)
    out_dir = Path(args.out)
    earlier = {record.message_id for record in peer.quarantined()}
    count = failed = 0
    bars = payload_bars("opening", min_size=PROGRESS_THRESHOLD, quiet=getattr(args, "quiet", False))
    try:
        with bars as progress:
            for message in _incoming(peer, args, progress):
                if _deliver(peer, message, out_dir):
                    count += 1
                else:
                    failed += 1
    except KeyboardInterrupt:
        if not args.watch:
            raise
    quarantined = _report_quarantine(peer, earlier)
    if not args.watch:
        peer.replenish_prekeys()  # --watch keeps prekeys fresh inside its loop
        print(f"{count} message(s) received")
    if failed:
        return EXIT_NOT_SAVED
    return EXIT_QUARANTINED if quarantined else 0


def common_options(
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
    """Add ``peer``, ``send`` and ``receive`` to the ``sealpack`` command (``trust``: cli.trust).

    Args:
        subparsers: the top-level sub-command registry.
    """
    _register_peer_and_send(subparsers)
    _register_receive(subparsers)


def _register_peer_and_send(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    peer = subparsers.add_parser("peer", help="manage this peer").add_subparsers(
        dest="peer_command", metavar="ACTION", required=True
    )
    init = peer.add_parser("init", help="create an identity and publish it")
    init.add_argument("name")
    init.add_argument("--prekeys", type=int, default=100, help="one-time prekeys")
    common_options(init, own=False)
    init.set_defaults(handler=_peer_init)

    send = subparsers.add_parser("send", help="seal a file to peers' inboxes")
    send.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    send.add_argument("file")
    common_options(send)
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
    common_options(receive)
    receive.set_defaults(handler=_receive)
