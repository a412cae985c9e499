"""``sealpack trust list`` and ``sealpack trust accept NAME``: the peers this key store pins.

``trust list --root DIR`` also compares each pin with the bundle the peer publishes now.
"""

from __future__ import annotations

import argparse

from sealpack.cli.exchange import common_options, open_peer, open_store
from sealpack.exchange.contacts import published_status
from sealpack.keys import fingerprint

__all__ = ["register"]


def _trust_list(args: argparse.Namespace) -> int:
    """``trust list``: print pinned peers (and, with ``--root``, their published state).

    Args:
        args: the parsed command line.

    Returns:
        0.

    Raises:
        errors.KeyStoreError: the key store cannot be opened.
    """
    store = open_store(args)
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
    peer = open_peer(args)
    previous = peer.trust.pinned_key(args.name)
    bundle = peer.trust_peer(args.name)
    if previous is not None:
        print(f"was     {fingerprint(previous)}")
    print(f"trusted {bundle.name}  {bundle.fingerprint()}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trust`` to the ``sealpack`` command.

    Args:
        subparsers: the top-level sub-command registry.
    """
    _register_trust(subparsers)


def _register_trust(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trust = subparsers.add_parser("trust", help="pinned peer identities").add_subparsers(
        dest="trust_command", metavar="ACTION", required=True
    )
    listing = trust.add_parser("list", help="show pinned peers and fingerprints")
    common_options(listing, root_required=False)
    listing.set_defaults(handler=_trust_list)
    accept = trust.add_parser("accept", help="trust a peer's current identity")
    accept.add_argument("name")
    common_options(accept)
    accept.set_defaults(handler=_trust_accept)
