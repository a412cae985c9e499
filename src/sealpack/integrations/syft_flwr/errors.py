"""Errors of the syft-flwr integration (importable without syft-flwr installed)."""

from __future__ import annotations

from sealpack.integrations.flower.errors import FlowerConfigError, FlowerIntegrationError

__all__ = ["SyftFlwrConfigError", "SyftFlwrNotInstalledError", "UnpublishedBundleError"]


class SyftFlwrConfigError(FlowerConfigError):
    """The syft-flwr project or environment is not set up the way sealpack needs."""


class SyftFlwrNotInstalledError(FlowerIntegrationError, ImportError):
    """syft-flwr (and the Flower it pins) is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "sealpack.integrations.syft_flwr needs syft-flwr 0.5.3 on Python 3.12+: "
            "see docs/integrations/syft-flwr.md for the install recipe"
        )


class UnpublishedBundleError(FlowerIntegrationError):
    """A peer's sealpack bundle did not appear in its datasite's public folder in time."""
