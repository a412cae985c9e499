"""Entry point of the ``sealpack`` command.

Each command group lives in its own module with a ``register(subparsers)``
function that adds its sub-commands; every handler returns an exit code.
Errors are printed as one line on stderr; the exit code tells their kind.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sealpack import errors
from sealpack._version import __version__

COMMAND_MODULES: tuple[str, ...] = ("keys", "envelope", "exchange", "trust")

# Exit codes: distinct per failure kind so scripts can branch on them.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
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
        code: int = args.handler(args)
    except errors.SealpackError as error:
        print(f"sealpack: error: {error}", file=sys.stderr)
        return exit_code_for(error)
    except (OSError, KeyboardInterrupt) as error:
        print(f"sealpack: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
