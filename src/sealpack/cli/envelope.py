"""``sealpack seal``, ``sealpack unseal`` and ``sealpack inspect``.

IN of ``seal`` is codec-encoded data (e.g. written by ``fobs.dump``) or ``-`` for stdin;
the CLI seals those bytes as they are. ``seal`` refuses to replace an existing,
non-empty OUT that is not a sealed blob (a forgotten OUT would otherwise overwrite
the data file) unless ``--force``. ``unseal`` writes the verified codec frame to
OUT (a temp file renamed only after every check passed) or to stdout with ``-``:
then the message is opened held, copied from an already unlinked temp file, and
acknowledged (replay row, one-time prekey) only after stdout was flushed; a failed
copy leaves it for a retry. ``inspect`` escapes every non-printing character.
Senders accepted by ``unseal`` are the peers pinned in the key store's trust store,
plus any ``--sender BUNDLE`` given. A progress bar goes to stderr for payloads over
8 MiB, on a terminal only (``--quiet``: never).
``seal`` takes each recipient's first one-time prekey the sender's key store has not
used yet (recorded in the store, so separate runs never repeat one);
``--no-one-time-prekey`` seals with the signed prekeys only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mmap
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sealpack import api, errors
from sealpack.cli import keys as keys_cli
from sealpack.exchange.received import printable
from sealpack.keys import KeyBundle, KeyStore, TrustStore
from sealpack.progress import ProgressCallback, progress_bar

__all__ = ["register"]

PROGRESS_THRESHOLD = 8 << 20
_MIB = 1 << 20


def progress_for(
    args: argparse.Namespace, verb: str, total: int
) -> contextlib.AbstractContextManager[ProgressCallback | None]:
    """A terminal progress bar for payloads over the threshold, else no callback.

    Args:
        args: the parsed command line (``--quiet`` turns the bar off).
        verb: the bar's label.
        total: payload bytes.

    Returns:
        A context manager yielding the callback (or None).
    """
    if total < PROGRESS_THRESHOLD or getattr(args, "quiet", False):
        return contextlib.nullcontext(None)
    return progress_bar(verb, total)


def _store(directory: str | None) -> KeyStore:
    return keys_cli.open_store(Path(directory) if directory else keys_cli.default_dir())


def _bundles(paths: list[str], trust: TrustStore) -> list[KeyBundle]:
    bundles = [keys_cli.read_bundle_file(path) for path in paths]
    for bundle in bundles:
        trust.check(bundle)
    return bundles


@contextlib.contextmanager
def _input_bytes(path: str) -> Iterator[memoryview]:
    """The bytes of IN without copying a regular file (mmap); stdin is read whole."""
    if path == "-":
        yield memoryview(sys.stdin.buffer.read())
        return
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            yield memoryview(b"")
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                yield view
            finally:
                view.release()


def _metadata(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        metadata = json.loads(text)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise api.SealArgumentError("--metadata must be a JSON object")
    return metadata


def _split_paths(listed: list[str] | None, paths: list[str]) -> tuple[list[str], str, str]:
    """``--to A B IN OUT`` parses as to=[A, B, IN, OUT]: take IN and OUT back from the end."""
    items = [*(listed or []), *paths]
    if len(items) - len(listed or []) > 2 or len(items) < 2 + (listed is not None):
        raise api.SealArgumentError("expected the bundle file(s), then IN and OUT")
    return items[:-2], items[-2], items[-1]


def _check_output(path: str, force: bool) -> None:
    """Refuse to replace an existing non-empty file that is not a sealed blob."""
    if force or path == "-" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    try:
        api.inspect(path)
    except errors.SealpackError:
        raise api.SealArgumentError(
            f"OUT {path} exists and is not a sealed blob (OUT forgotten?); "
            "use --force to replace it"
        ) from None


def cmd_seal(args: argparse.Namespace) -> int:
    """Seal IN for the --to bundles with the key store's identity."""
    args.to, args.input, args.output = _split_paths(args.to, args.paths)
    _check_output(args.output, args.force)
    metadata = _metadata(args.metadata)
    store = _store(args.keystore)
    with store:
        recipients = _bundles(args.to, store.trust_store)
        with (
            _input_bytes(args.input) as frame,
            progress_for(args, "sealing", len(frame)) as progress,
        ):
            target = sys.stdout.buffer if args.output == "-" else args.output
            api.seal_frame_to(
                frame,
                target,
                sender=store,
                recipients=recipients,
                metadata=metadata,
                expires_in=args.expires_in,
                one_time_prekey=args.one_time_prekey,
                allow_classical=args.allow_classical,
                progress=progress,
            )
    return 0


def _senders(store: KeyStore, paths: list[str]) -> list[KeyBundle] | TrustStore:
    if not paths:
        return store.trust_store
    return _bundles(paths, store.trust_store)


def cmd_unseal(args: argparse.Namespace) -> int:
    """Verify IN completely, then write its codec frame to OUT."""
    args.sender, args.input, args.output = _split_paths(args.sender, args.paths)
    store = _store(args.keystore)
    with store:
        senders = _senders(store, args.sender or [])
        source = sys.stdin.buffer if args.input == "-" else args.input
        if args.output != "-":  # held until OUT is in place: a failed rename loses nothing
            api.acknowledge(store, _unseal_to(args, source, args.output, store, senders, hold=True))
        else:
            _unseal_to_stdout(args, source, store, senders)
    return 0


def _unseal_to_stdout(
    args: argparse.Namespace,
    source: api.FileOrPath,
    store: KeyStore,
    senders: list[KeyBundle] | TrustStore,
) -> None:
    """Open held, copy through an unlinked temp file, acknowledge only after the flush."""
    with tempfile.TemporaryDirectory(prefix="sealpack-") as folder:
        temp = os.path.join(folder, "frame")
        info = _unseal_to(args, source, temp, store, senders, hold=True)
        with open(temp, "rb") as plaintext:
            os.unlink(temp)  # the plaintext lives on only through this handle
            shutil.copyfileobj(plaintext, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    api.acknowledge(store, info)


def _unseal_to(
    args: argparse.Namespace,
    source: api.FileOrPath,
    out: str,
    store: KeyStore,
    senders: list[KeyBundle] | TrustStore,
    *,
    hold: bool = False,
) -> api.UnsealedInfo:
    size = api.inspect(source).payload_size if isinstance(source, str) else 0
    with progress_for(args, "unsealing", size) as progress:
        return api.unseal_frame_to(
            source, out, recipient=store, senders=senders, progress=progress, hold=hold
        )


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the unverified header facts of FILE (as text, or JSON with --json)."""
    source = sys.stdin.buffer if args.file == "-" else args.file
    facts = api.inspect(source).as_dict()
    if args.json:
        print(json.dumps(facts, indent=2, sort_keys=True))
    else:
        for key, value in facts.items():  # header text is the sender's: escape it
            shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            print(printable(f"{key + ':':<16} {shown}"))
    print("note: nothing above is verified; unseal checks it all", file=sys.stderr)
    return 0


def _keystore_option(parser: argparse.ArgumentParser, *aliases: str) -> None:
    parser.add_argument(
        "--keystore",
        *aliases,
        dest="keystore",
        metavar="DIR",
        help="key store directory (default $SEALPACK_KEYSTORE or ~/.sealpack/keystore)",
    )


def _paths_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The trailing ``IN OUT`` positionals (split from a greedy list by _split_paths)."""
    parser.add_argument("paths", nargs="*", metavar="IN OUT", help=help_text)


def _register_seal(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seal = subparsers.add_parser("seal", help="seal codec-encoded data for recipients")
    seal.add_argument(
        "--to", nargs="+", required=True, metavar="BUNDLE", help="recipient bundle files (JSON)"
    )
    _keystore_option(seal, "--from")  # --from: the sender's key store
    seal.add_argument(
        "--no-one-time-prekey",
        dest="one_time_prekey",
        action="store_false",
        help="seal with the recipients' signed prekeys only (no one-time prekey)",
    )
    seal.add_argument(
        "--allow-classical",
        action="store_true",
        help="seal with classical X3DH to recipients whose bundle has no post-quantum prekey "
        "(refused by default: DowngradeError, exit 15)",
    )
    seal.add_argument("--metadata", help="JSON object of app metadata (signed, not secret)")
    seal.add_argument(
        "--expires-in",
        type=int,
        default=api.DEFAULT_EXPIRES_IN,
        metavar="SECONDS",
        help="validity period (default 7 days)",
    )
    seal.add_argument(
        "--force",
        action="store_true",
        help="replace an existing OUT even if it is not a sealed blob",
    )
    _paths_argument(seal, "codec-encoded data file (- for stdin), sealed blob file (- for stdout)")
    seal.set_defaults(handler=cmd_seal)


def _register_unseal(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    unseal = subparsers.add_parser("unseal", help="verify and open a sealed blob")
    _keystore_option(unseal)
    unseal.add_argument(
        "--sender",
        nargs="+",
        metavar="BUNDLE",
        help="accept these sender bundles (default: pinned peers)",
    )
    _paths_argument(unseal, "sealed blob file (- for stdin), codec frame output (- for stdout)")
    unseal.set_defaults(handler=cmd_unseal)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the seal, unseal and inspect commands."""
    _register_seal(subparsers)
    _register_unseal(subparsers)
    inspect = subparsers.add_parser("inspect", help="show a sealed blob's header (unverified)")
    inspect.add_argument("file", metavar="FILE", help="sealed blob file, or - for stdin")
    inspect.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    inspect.set_defaults(handler=cmd_inspect)
