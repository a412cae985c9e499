"""``sealpack trust list`` and ``sealpack trust accept NAME``: the peers this key store pins.

``trust list --root DIR`` also compares each pin with the bundle the peer publishes now.
``trust accept NAME --expect FINGERPRINT`` pins NAME's published identity only if it has
that safety number (compared with NAME out of band). Replacing a pin (NAME's identity
changed) requires ``--expect``: the synced folder is hostile, and a blind accept after an
identity-changed warning would pin whoever replaced the bundle. A first pin without it is
trust on first use, like ``receive``, and prints the fingerprint to compare.
"""

from __future__ import annotations

import argparse
import sys

from sealpack import errors
from sealpack.cli.exchange import common_options, open_peer, open_store
from sealpack.exchange import Peer
from sealpack.exchange.contacts import published_bundle, published_status
from sealpack.exchange.received import printable
from sealpack.keys import KeyBundle, fingerprint

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
        errors.IdentityChangedError: not the ``--expect`` fingerprint, or a changed
            identity without ``--expect`` (nothing pinned).
    """
    peer = open_peer(args)
    previous = peer.trust.pinned_key(args.name)  # for the report only
    if args.expect is not None:
        bundle = peer.trust_peer(args.name, expect_fingerprint=args.expect)
    else:
        bundle = _pin_if_unpinned(peer, args)
    if previous is not None:
        print(f"was     {fingerprint(previous)}")
    print(f"trusted {bundle.name}  {bundle.fingerprint()}")
    if args.expect is None:
        print(f"compare this fingerprint with {bundle.name} out of band", file=sys.stderr)
    return 0


def _pin_if_unpinned(peer: Peer, args: argparse.Namespace) -> KeyBundle:
    """Without --expect: pin NAME's published bundle on first use, or confirm the pin.

    ``TrustStore.check`` looks up and pins in one transaction, so a pin another process
    made meanwhile is never replaced; a changed identity is refused with both
    fingerprints and the command that replaces the pin after an out-of-band check.
    """
    bundle = published_bundle(args.root, args.name)
    if bundle is None:
        raise errors.TransportError(f"no valid bundle published by {printable(args.name)}")
    try:
        return peer.trust.check(bundle)
    except errors.IdentityChangedError:
        pinned = peer.trust.pinned_key(args.name)
        if pinned is None:
            raise  # the key is pinned under another name: that error says so
        name = printable(args.name)
        raise errors.IdentityChangedError(
            f"{name} is pinned to {fingerprint(pinned)} and "
            f"publishes {bundle.fingerprint()}; replacing a pin needs the new fingerprint "
            f"compared with {name} out of band: sealpack trust accept {name} --expect "
            "'FINGERPRINT' (nothing was pinned)"
        ) from None


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
    accept.add_argument(
        "--expect",
        metavar="FINGERPRINT",
        help="the peer's safety number, compared out of band (required to replace a pin)",
    )
    common_options(accept)
    accept.set_defaults(handler=_trust_accept)
