"""Bootstrap and run a sealed syft-flwr project in syft-flwr's local simulation.

:func:`bootstrap` is ``syft_flwr.bootstrap`` plus a ``main.py`` that runs
:func:`sealpack.integrations.syft_flwr.main`. :func:`run_simulation` wraps
``syft_flwr.run_simulation.run``: syft-crypto off, a fresh temporary directory per
run (the simulation keeps its network in ``$TMPDIR/<project name>``, so a killed run
would otherwise break the next one), a random KeyStore passphrase for the run unless
one is set, and optionally the network kept for inspection afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from sealpack.integrations.syft_flwr.compat import syft_module
from sealpack.integrations.syft_flwr.runner import ENCRYPTION_ENV, PASSPHRASE_ENV

__all__ = ["MAIN_PY", "bootstrap", "run_simulation"]

MAIN_PY = '''"""syft-flwr entry point, sealed by sealpack (written by its bootstrap)."""

from pathlib import Path

from sealpack.integrations.syft_flwr import main

main(Path(__file__).parent.absolute())
'''


def bootstrap(
    project_dir: str | os.PathLike[str], aggregator: str, datasites: Sequence[str]
) -> Path:
    """Bootstrap a Flower project for syft-flwr with sealpack sealing every message.

    Args:
        project_dir: A Flower app directory (``pyproject.toml`` with ``[tool.flwr.app]``).
        aggregator: The aggregator's (data scientist's) email.
        datasites: The datasite (data owner) emails.

    Returns:
        The project's ``main.py``.
    """
    project = Path(project_dir)
    syft_module("syft_flwr").bootstrap(
        project, aggregator=aggregator, datasites=list(datasites), transport="syftbox"
    )
    main_py = project / "main.py"
    main_py.write_text(MAIN_PY, encoding="utf-8")
    return main_py


@contextmanager
def _fresh_environment(tmpdir: Path) -> Iterator[None]:
    values = {"TMPDIR": str(tmpdir), ENCRYPTION_ENV: "false", "SYFT_FLWR_SKIP_MODULE_CHECK": "true"}
    if not os.environ.get(PASSPHRASE_ENV):
        values[PASSPHRASE_ENV] = secrets.token_urlsafe(24)
    saved_tempdir = tempfile.tempdir
    with mock.patch.dict(os.environ, values):
        tempfile.tempdir = str(tmpdir)
        try:
            yield
        finally:
            tempfile.tempdir = saved_tempdir


def run_simulation(
    project_dir: str | os.PathLike[str],
    mock_dataset_paths: Sequence[str | os.PathLike[str]],
    *,
    workdir: str | os.PathLike[str] | None = None,
    keep_network: bool = False,
) -> tuple[bool, Path]:
    """Run the project's local simulation (one process per participant), sealed.

    Args:
        project_dir: The bootstrapped project.
        mock_dataset_paths: One data path per datasite (the ``DATA_DIR`` each one gets).
        workdir: Temporary directory for this run (default: a new one); the simulated
            SyftBox network is ``<workdir>/<project name>``.
        keep_network: Keep the simulated network (datasites, key stores) after the run
            so it can be inspected; the caller then deletes ``workdir``.

    Returns:
        ``(succeeded, workdir)``.
    """
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="sealpack-syft-"))
    work.mkdir(parents=True, exist_ok=True)
    simulation = syft_module("syft_flwr.run_simulation")
    cleanup = simulation.remove_rds_stack_dir
    with (
        _fresh_environment(work),
        mock.patch.object(simulation, "remove_rds_stack_dir", _keep if keep_network else cleanup),
    ):
        result = simulation.run(Path(project_dir), [str(p) for p in mock_dataset_paths])
    if not keep_network and workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return bool(result), work


def _keep(*args: object, **kwargs: object) -> None:
    """Stand-in for syft-flwr's clean-up: the network stays for inspection."""
