"""End-to-end sealing of NVIDIA FLARE task data and results (sealpack inside NVFLARE).

Add it to a job in one call::

    from sealpack.integrations.nvflare import add_sealpack
    add_sealpack(recipe, keystore="/keys/{site}", bundles="/keys/bundles", tasks=["train"])

Server and clients then seal task data and results with task filters, a guard
component refuses anything that did not pass them, and every blob is bound to its
job, task, direction and sites. See docs/integrations/nvflare.md.

NVFLARE is an optional extra (``pip install 'sealpack[nvflare]'``); it is imported
only when one of the names below is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpack.integrations.lazy import lazy_attributes
from sealpack.integrations.nvflare.errors import (
    NvflareConfigError,
    NvflareIntegrationError,
    NvflareNotInstalledError,
    RefusedPayloadError,
)

if TYPE_CHECKING:
    from sealpack.integrations.nvflare.binding import Binding
    from sealpack.integrations.nvflare.filters import (
        OpenTaskDataFilter,
        OpenTaskResultFilter,
        SealTaskDataFilter,
        SealTaskResultFilter,
    )
    from sealpack.integrations.nvflare.guard import SealpackGuard
    from sealpack.integrations.nvflare.job import add_sealpack, allow_sealpack_components
    from sealpack.integrations.nvflare.provision import SealpackBuilder

__all__ = [
    "Binding",
    "NvflareConfigError",
    "NvflareIntegrationError",
    "NvflareNotInstalledError",
    "OpenTaskDataFilter",
    "OpenTaskResultFilter",
    "RefusedPayloadError",
    "SealTaskDataFilter",
    "SealTaskResultFilter",
    "SealpackBuilder",
    "SealpackGuard",
    "add_sealpack",
    "allow_sealpack_components",
]

_LAZY = {
    "Binding": "binding",
    "OpenTaskDataFilter": "filters",
    "OpenTaskResultFilter": "filters",
    "SealTaskDataFilter": "filters",
    "SealTaskResultFilter": "filters",
    "SealpackGuard": "guard",
    "add_sealpack": "job",
    "allow_sealpack_components": "job",
    "SealpackBuilder": "provision",
}


__getattr__ = lazy_attributes(__name__, _LAZY, engine="nvflare", missing=NvflareNotInstalledError)
