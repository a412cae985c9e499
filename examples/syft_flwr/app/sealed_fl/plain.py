"""The same apps without sealpack (syft-flwr alone, with or without syft-crypto)."""

from __future__ import annotations

from flwr.app import Context
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from sealed_fl.task import serve, train

client_app = ClientApp()
client_app.train()(train)

server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    serve(grid, context)
