"""The ServerApp, sealed: FedAvg over sealpack's ``SealedGrid`` on syft-flwr's grid.

Its keys come from the run_config set by ``sealpack.integrations.syft_flwr.main``.
"""

from __future__ import annotations

from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from sealpack.integrations.syft_flwr import install_flwr_shims

install_flwr_shims()

from sealed_fl import task  # noqa: E402
from sealpack.integrations.syft_flwr import sealed_grid  # noqa: E402


def serve(grid: Grid, context: Context, *, tap: task.GridWrapper | None = None) -> Any:
    """Run FedAvg sealed; ``tap`` (tests, benchmarks) wraps the transport below sealpack.

    Returns:
        The ``SealedGrid`` used (its ``refused`` lists what sealpack refused).
    """

    def wrap(inner: Any) -> Any:
        return sealed_grid(tap(inner) if tap is not None else inner, context)

    sealed = task.serve(grid, context, wrap=wrap)
    for node, reason in sealed.refused:
        print(f"sealpack refused node {node}: {reason}", flush=True)
    return sealed


app = ServerApp()


@app.main()
def _main(grid: Grid, context: Context) -> None:
    serve(grid, context)
