"""Errors of the NVIDIA FLARE integration (importable without nvflare installed)."""

from __future__ import annotations

from sealpack.errors import SealpackError

__all__ = [
    "NvflareConfigError",
    "NvflareIntegrationError",
    "NvflareNotInstalledError",
    "RefusedPayloadError",
]


class NvflareIntegrationError(SealpackError):
    """Base class of every failure raised by sealpack's NVFLARE integration."""


class NvflareNotInstalledError(NvflareIntegrationError, ImportError):
    """The optional dependency ``nvflare`` is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "sealpack.integrations.nvflare needs NVIDIA FLARE: pip install 'sealpack[nvflare]'"
        )


class NvflareConfigError(NvflareIntegrationError):
    """The job or site configuration does not say where the keys and bundles are."""


class RefusedPayloadError(NvflareIntegrationError):
    """A task or result was refused: not sealed, malformed, or bound to another context.

    Raised inside an NVFLARE filter, so NVFLARE answers with its filter-error return
    code (``TASK_DATA_FILTER_ERROR`` / ``TASK_RESULT_FILTER_ERROR``).
    """
