"""The ClientApp, sealed: sealpack's mod opens instructions and seals replies.

Its keys come from node_config, set by ``sealpack.integrations.syft_flwr.main``.
"""

from __future__ import annotations

from sealpack.integrations.syft_flwr import install_flwr_shims

install_flwr_shims()  # Flower 1.25 module paths, before sealpack's Flower integration loads

from sealed_fl.task import train  # noqa: E402
from sealpack.integrations.flower import sealed_client_app  # noqa: E402

app = sealed_client_app()
app.train()(train)
