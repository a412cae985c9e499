"""Errors of the Flower integration (importable without flwr installed)."""

from __future__ import annotations

from sealpack.errors import SealpackError, TamperedError

__all__ = [
    "BroadcastBodyError",
    "FlowerConfigError",
    "FlowerIntegrationError",
    "FlowerNotInstalledError",
    "RefusedMessageError",
    "StaleInstructionError",
]


class FlowerIntegrationError(SealpackError):
    """Base class of every failure raised by sealpack's Flower integration."""


class FlowerNotInstalledError(FlowerIntegrationError, ImportError):
    """The optional dependency ``flwr`` is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "sealpack.integrations.flower needs Flower: pip install 'sealpack[flower]'"
        )


class FlowerConfigError(FlowerIntegrationError):
    """The arguments or config do not say where the keys and trusted bundles are."""


class RefusedMessageError(FlowerIntegrationError):
    """A Flower message was refused: unsealed, malformed, or bound to another node/run."""


class StaleInstructionError(RefusedMessageError):
    """An instruction older than one the node already accepted in this run (held back)."""


class BroadcastBodyError(RefusedMessageError, TamperedError):
    """A broadcast body does not match the digest its ticket names (swapped, altered, cut).

    Also a :class:`~sealpack.errors.TamperedError`: it carries no detail.
    """

    MESSAGE = "broadcast body failed authentication"
