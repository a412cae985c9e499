"""sealpack inside syft-flwr: Flower over SyftBox datasites, sealed instead of syft-crypto.

A syft-flwr project uses sealpack's Flower integration unchanged (``sealed_client_app``
in the ClientApp, ``SealedGrid.from_context`` in the ServerApp) and this package for
what SyftBox adds: per-datasite key stores keyed by email, bundles published in each
datasite's public folder and pinned on first use, the node id syft-flwr addresses,
Flower 1.25 compatibility, syft-crypto switched off, atomic syft-rpc writes, and a
simulation that starts from a fresh temporary directory. See
docs/integrations/syft-flwr.md.

syft-flwr is optional (Python 3.12+, installed with the recipe of that page); it is
imported only when a function here needs it, and its absence is
:class:`SyftFlwrNotInstalledError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpack.integrations.lazy import lazy_attributes
from sealpack.integrations.syft_flwr.errors import (
    SyftFlwrConfigError,
    SyftFlwrNotInstalledError,
    UnpublishedBundleError,
)

if TYPE_CHECKING:
    from sealpack.integrations.syft_flwr.compat import (
        install_atomic_rpc_writes,
        install_flwr_shims,
    )
    from sealpack.integrations.syft_flwr.datasite_keys import DatasiteKeys, node_id_for, pin_peer
    from sealpack.integrations.syft_flwr.grid import SyftGridAdapter, sealed_grid
    from sealpack.integrations.syft_flwr.runner import main
    from sealpack.integrations.syft_flwr.simulation import bootstrap, run_simulation

__all__ = [
    "DatasiteKeys",
    "SyftFlwrConfigError",
    "SyftFlwrNotInstalledError",
    "SyftGridAdapter",
    "UnpublishedBundleError",
    "bootstrap",
    "install_atomic_rpc_writes",
    "install_flwr_shims",
    "main",
    "node_id_for",
    "pin_peer",
    "run_simulation",
    "sealed_grid",
]

_LAZY = {
    "DatasiteKeys": "datasite_keys",
    "node_id_for": "datasite_keys",
    "pin_peer": "datasite_keys",
    "install_atomic_rpc_writes": "compat",
    "install_flwr_shims": "compat",
    "main": "runner",
    "SyftGridAdapter": "grid",
    "sealed_grid": "grid",
    "bootstrap": "simulation",
    "run_simulation": "simulation",
}


# syft-flwr itself is imported only when a function needs it.
__getattr__ = lazy_attributes(__name__, _LAZY)
