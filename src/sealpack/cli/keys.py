"""CLI, part 1: key generation, bundles, fingerprints and prekey maintenance.

Commands::

    sealpack keygen NAME [--dir DIR] [--one-time-prekeys N] [--unencrypted]
    sealpack bundle export [--dir DIR] [--out FILE]
    sealpack bundle verify FILE
    sealpack fingerprint FILE [--json]
    sealpack prekeys rotate [--dir DIR] [--grace SECONDS]
    sealpack prekeys replenish [--dir DIR] [-n N] [--pq N]

The key store directory defaults to $SEALPACK_KEYSTORE, else ~/.sealpack/keystore.
The passphrase comes from $SEALPACK_PASSPHRASE (for scripts) or an interactive prompt;
when $SEALPACK_PASSPHRASE is set, an unencrypted key store is refused.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from sealpack import errors
from sealpack.keys import Identity, KeyBundle, KeyStore
from sealpack.keys.bundle_json import MAX_BUNDLE_JSON
from sealpack.keys.fsutil import atomic_write

__all__ = ["default_dir", "open_store", "read_bundle_file", "read_passphrase", "register"]

PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
KEYSTORE_ENV = "SEALPACK_KEYSTORE"


def default_dir() -> Path:
    """The key store directory used when --dir is not given."""
    return Path(os.environ.get(KEYSTORE_ENV, "~/.sealpack/keystore")).expanduser()


def read_passphrase(*, confirm: bool) -> bytes:
    """Return the passphrase from $SEALPACK_PASSPHRASE or an interactive prompt.

    Raises:
        KeyStoreError: empty passphrase, or the confirmation differs.
    """
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env is not None:
        passphrase = from_env
    else:
        passphrase = getpass.getpass("Key store passphrase: ")
        if confirm and getpass.getpass("Repeat passphrase: ") != passphrase:
            raise errors.KeyStoreError("the passphrases do not match")
    if not passphrase:
        raise errors.KeyStoreError("the passphrase must not be empty")
    return passphrase.encode()


def open_store(directory: Path) -> KeyStore:
    """Open the key store in ``directory`` with the configured passphrase.

    When $SEALPACK_PASSPHRASE is set it is always given to KeyStore.open, which then
    refuses an unencrypted ("encryption": "none") key file: the key file cannot talk a
    passphrase holder out of using the passphrase. Without it, the prompt appears only
    for an encrypted store.

    Args:
        directory: the key store directory.

    Returns:
        The open KeyStore (use it as a context manager).

    Raises:
        KeyStoreError: no key store there, it is corrupt, or it is unencrypted while a
            passphrase is configured.
        WrongPassphraseError: the passphrase does not decrypt it.
    """
    from sealpack.keys.keyfile import read_header
    from sealpack.keys.store_files import read_bytes

    if os.environ.get(PASSPHRASE_ENV) is not None:
        return KeyStore.open(directory, passphrase=read_passphrase(confirm=False))
    _, params = read_header(read_bytes(directory))
    passphrase = None if params is None else read_passphrase(confirm=False)
    return KeyStore.open(directory, passphrase=passphrase)


def read_bundle_file(path: str) -> KeyBundle:
    """Read and verify a key bundle file (at most MAX_BUNDLE_JSON bytes are read).

    Args:
        path: the bundle JSON file.

    Returns:
        The verified bundle.

    Raises:
        BundleError, UnsupportedVersionError: from KeyBundle.from_json.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read(MAX_BUNDLE_JSON + 1)
    return KeyBundle.from_json(data)


def cmd_keygen(args: argparse.Namespace) -> int:
    """Create an identity and its key store."""
    identity = Identity.generate(args.name, one_time_prekeys=args.one_time_prekeys)
    directory = args.dir or default_dir()
    if args.unencrypted:
        print("WARNING: private keys will be stored UNENCRYPTED", file=sys.stderr)
        store = KeyStore.create(directory, identity, passphrase=None, unencrypted=True)
    else:
        store = KeyStore.create(directory, identity, passphrase=read_passphrase(confirm=True))
    with store:
        print(f"created identity {identity.name!r} in {directory}")
        print(f"fingerprint: {identity.fingerprint()}")
    return 0


def cmd_bundle_export(args: argparse.Namespace) -> int:
    """Print or write the public bundle."""
    with open_store(args.dir or default_dir()) as store:
        text = store.identity.bundle().to_json()
    if args.out:
        atomic_write(Path(args.out), text.encode())
    else:
        sys.stdout.write(text)
    return 0


def cmd_bundle_verify(args: argparse.Namespace) -> int:
    """Verify a bundle file and print its facts."""
    bundle = read_bundle_file(args.file)
    spk = bundle.signed_prekey
    print(f"OK: bundle of {bundle.name!r}")
    print(f"fingerprint: {bundle.fingerprint()}")
    print(f"signed prekey {spk.id}: created {spk.created}, expires {spk.expires}")
    print(f"one-time prekeys: {len(bundle.one_time_prekeys)}")
    return 0


def cmd_fingerprint(args: argparse.Namespace) -> int:
    """Print the safety number of a bundle file (JSON with --json)."""
    bundle = read_bundle_file(args.file)
    if args.json:
        facts = {
            "name": bundle.name,
            "fingerprint": bundle.fingerprint(),
            "identity_key": bundle.identity_key.hex(),
        }
        print(json.dumps(facts, sort_keys=True))
    else:
        print(f"{bundle.name}: {bundle.fingerprint()}")
    return 0


def cmd_prekeys_rotate(args: argparse.Namespace) -> int:
    """Rotate the signed prekey (the old one stays usable for the grace period)."""
    with open_store(args.dir or default_dir()) as store:
        store.identity.rotate_signed_prekey(grace_period=args.grace)
        print(f"signed prekey is now {store.identity.signed_prekey_id}; re-export the bundle")
    return 0


def cmd_prekeys_replenish(args: argparse.Namespace) -> int:
    """Add one-time prekeys (``--pq N``: also post-quantum one-time prekeys)."""
    with open_store(args.dir or default_dir()) as store:
        store.identity.replenish_one_time_prekeys(args.n)
        if args.pq:
            store.identity.replenish_pq_one_time_prekeys(args.pq)
        count = len(store.identity.one_time_prekey_ids())
        pq_count = len(store.identity.pq_one_time_prekey_ids())
        print(
            f"{count} one-time prekeys and {pq_count} post-quantum one-time prekeys "
            "available; re-export the bundle"
        )
    return 0


def _dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"key store directory (default ${KEYSTORE_ENV} or ~/.sealpack/keystore)",
    )


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add keygen, bundle, fingerprint and prekeys to the sealpack command."""
    keygen = subparsers.add_parser("keygen", help="create an identity and its key store")
    keygen.add_argument("name")
    _dir_option(keygen)
    keygen.add_argument("--one-time-prekeys", type=_non_negative, default=100)
    keygen.add_argument(
        "--unencrypted",
        action="store_true",
        help="DANGER: store the private keys without encryption",
    )
    keygen.set_defaults(handler=cmd_keygen)

    fingerprint = subparsers.add_parser("fingerprint", help="print a bundle's safety number")
    fingerprint.add_argument("file")
    fingerprint.add_argument("--json", action="store_true", help="print one JSON object")
    fingerprint.set_defaults(handler=cmd_fingerprint)

    _register_bundle(subparsers)
    _register_prekeys(subparsers)


def _register_bundle(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = subparsers.add_parser("bundle", help="export or verify public key bundles")
    bundle_sub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    export = bundle_sub.add_parser("export", help="print or write the public bundle JSON")
    _dir_option(export)
    export.add_argument("--out", default=None, help="write to this file instead of stdout")
    export.set_defaults(handler=cmd_bundle_export)
    verify = bundle_sub.add_parser("verify", help="verify a bundle file")
    verify.add_argument("file")
    verify.set_defaults(handler=cmd_bundle_verify)


def _register_prekeys(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prekeys = subparsers.add_parser("prekeys", help="rotate or replenish prekeys")
    prekeys_sub = prekeys.add_subparsers(dest="prekeys_command", metavar="ACTION", required=True)
    rotate = prekeys_sub.add_parser("rotate", help="rotate the signed prekey")
    _dir_option(rotate)
    rotate.add_argument(
        "--grace",
        type=_non_negative,
        default=7 * 86400,
        help="seconds the previous signed prekey stays usable",
    )
    rotate.set_defaults(handler=cmd_prekeys_rotate)
    replenish = prekeys_sub.add_parser("replenish", help="add one-time prekeys")
    _dir_option(replenish)
    replenish.add_argument("-n", type=_non_negative, default=100)
    replenish.add_argument(
        "--pq",
        type=_non_negative,
        default=0,
        metavar="N",
        help="also add N post-quantum (ML-KEM-768) one-time prekeys, 1184 bytes each in the bundle",
    )
    replenish.set_defaults(handler=cmd_prekeys_replenish)
