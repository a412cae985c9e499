"""Entry point of the ``sealpack`` command.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its sub-commands; every handler returns an exit code.
Errors are printed as one line on stderr; the exit code tells their kind.
While a command runs, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in
the main thread, so temp files are removed and nothing is acknowledged (exit 143).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from sealpack import errors
from sealpack._version import __version__

COMMAND_MODULES: tuple[str, ...] = ("keys", "envelope", "exchange", "trust")

# Exit codes: distinct per failure kind so scripts can branch on them.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (errors.TamperedError, 3),
    (errors.NotARecipientError, 4),
    (errors.UnknownSenderError, 5),
    (errors.UntrustedSenderError, 5),
    (errors.IdentityChangedError, 5),
    (errors.ExpiredError, 6),
    (errors.ReplayError, 7),
    (errors.WrongPassphraseError, 8),
    (errors.KeyStoreError, 9),
    (errors.BundleError, 10),
    (errors.PrekeyError, 10),
    (errors.UnsupportedVersionError, 11),
    (errors.DecodeError, 12),
    (errors.InvalidKeyError, 10),
    (errors.SealArgumentError, 2),
    (errors.TransportError, 13),
    (errors.DowngradeError, 15),
    (errors.ContextMismatchError, 16),
    (errors.SealpackError, EXIT_ERROR),
)


def exit_code_for(error: BaseException) -> int:
    """Return the exit code for an error raised by a command handler."""
    for error_type, code in EXIT_CODES:
        if isinstance(error, error_type):
            return code
    return EXIT_ERROR


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a command ran (raised so that cleanup runs)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("terminated (SIGTERM)")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Make SIGTERM raise Terminated inside the block (main thread, default handler only)."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="sealpack", description="End-to-end encrypted serialization."
    )
    parser.add_argument("--version", action="version", version=f"sealpack {__version__}")
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress display (it is shown only on a terminal anyway)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"sealpack.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Args:
        argv: arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_raises():
            code: int = args.handler(args)
    except errors.SealpackError as error:
        print(f"sealpack: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except Terminated as error:
        print(f"sealpack: error: {error}", file=sys.stderr)
        return EXIT_TERMINATED
    except (OSError, KeyboardInterrupt) as error:
        print(f"sealpack: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
