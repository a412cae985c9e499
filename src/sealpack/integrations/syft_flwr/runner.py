"""Run a syft-flwr participant with sealpack: what a project's ``main.py`` calls.

:func:`main` replaces syft-flwr's generated ``main.py`` body. It switches syft-crypto
off (sealpack replaces it), installs the Flower 1.25 shims and atomic syft-rpc writes,
creates or opens this participant's KeyStore, publishes its bundle, pins its peers'
bundles (the aggregator leaves out, and logs, each datasite it cannot pin), then
runs syft-flwr's own client or server loop with:

* datasites: a Flower Context whose ``node_id`` is the id syft-flwr addresses the
  datasite by (CRC-32 of its email; syft-flwr itself gives the ClientApp a random id)
  and whose ``node_config`` names the KeyStore and the pinned aggregator bundle;
* the aggregator: a ``run_config`` naming its KeyStore and the directory of pinned
  datasite bundles, for ``sealed_grid(grid, context)`` in the ServerApp.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from sealpack.errors import SealpackError
from sealpack.integrations.flower import keyconfig
from sealpack.integrations.syft_flwr import compat
from sealpack.integrations.syft_flwr.datasite_keys import (
    DatasiteKeys,
    PinResult,
    node_id_for,
    open_or_create,
    passphrase_from_env,
    pin_peer,
    publish,
)
from sealpack.integrations.syft_flwr.errors import SyftFlwrConfigError, UnpublishedBundleError
from sealpack.keys import KeyStore

__all__ = [
    "ENCRYPTION_ENV",
    "FINGERPRINTS_ENV",
    "PASSPHRASE_ENV",
    "PIN_WAIT_ENV",
    "main",
    "prepare",
]

ENCRYPTION_ENV = "SYFT_FLWR_ENCRYPTION_ENABLED"
PASSPHRASE_ENV = "SEALPACK_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
PIN_WAIT_ENV = "SEALPACK_PIN_WAIT"
FINGERPRINTS_ENV = "SEALPACK_FINGERPRINTS"
_log = logging.getLogger(__name__)


def switch_off_syft_crypto() -> None:
    """Set ``SYFT_FLWR_ENCRYPTION_ENABLED=false``; refuse an explicit ``true``.

    Raises:
        SyftFlwrConfigError: The variable asks for syft-crypto as well.
    """
    value = os.environ.get(ENCRYPTION_ENV)
    if value is not None and value.lower() != "false":
        raise SyftFlwrConfigError(
            f"sealpack replaces syft-crypto: set {ENCRYPTION_ENV}=false (it is {value!r})"
        )
    os.environ[ENCRYPTION_ENV] = "false"


def prepare(email: str, datasites: Path, peers: list[str], *, server: bool) -> dict[str, str]:
    """Open (or create) this participant's keys, publish its bundle, pin its peers.

    Args:
        email: This participant's email.
        datasites: Its SyftBox ``datasites`` folder.
        peers: Emails to pin (the aggregator for a datasite; the datasites for the aggregator).
        server: True for the aggregator (its pins become ``sealpack-trusted``).

    Expected fingerprints (compared out of band) come from this participant's own
    environment, ``SEALPACK_FINGERPRINTS="a@x.org=12345 ...;b@y.org=..."``, never from
    the project config (the aggregator writes that).

    Returns:
        The sealpack config keys for the Flower integration (node_config or run_config).

    The aggregator leaves out (logs, does not pin) each datasite it cannot pin, and
    waits ``SEALPACK_PIN_WAIT`` once for all of them; a datasite must pin its aggregator.

    Raises:
        SyftFlwrConfigError: A sealpack environment variable is malformed, or the
            aggregator could pin no datasite at all.
        UnpublishedBundleError, BundleError, IdentityChangedError: A datasite cannot pin
            the aggregator.
    """
    keys = DatasiteKeys(email, datasites)
    expected = _fingerprints(os.environ.get(FINGERPRINTS_ENV, ""))
    wait = _seconds(os.environ.get(PIN_WAIT_ENV, "120"))
    with open_or_create(keys, passphrase_from_env(PASSPHRASE_ENV)) as store:
        publish(keys, store)
        if server:  # a datasite that cannot be pinned is left out, not fatal
            pins = _pin_datasites(keys, store, peers, expected, wait)
        else:
            pins = [
                pin_peer(keys, store, p, expected_fingerprint=expected.get(p), wait=wait)
                for p in peers
            ]
    values = {keyconfig.KEYSTORE: str(keys.keystore)}
    if os.environ.get(PASSPHRASE_ENV):
        values[keyconfig.PASSPHRASE_ENV] = PASSPHRASE_ENV
    if server:
        values[keyconfig.TRUSTED] = str(keys.pins)
    else:
        values[keyconfig.SERVER_BUNDLE] = str(pins[0].path)
    return values


def _pin_datasites(
    keys: DatasiteKeys, store: KeyStore, peers: list[str], expected: dict[str, str], wait: float
) -> list[PinResult]:
    """Pin every datasite that can be pinned within one shared ``wait``; leave out the rest.

    A datasite whose bundle is refused, or not published in time, is logged and left
    unpinned (its pin file from an earlier run is removed), so one datasite cannot stop
    the run for the others.

    Raises:
        SyftFlwrConfigError: No datasite could be pinned.
    """
    pins: list[PinResult] = []
    pending = list(dict.fromkeys(peers))
    deadline = time.monotonic() + wait
    while True:
        for peer in list(pending):
            try:
                pins.append(
                    pin_peer(keys, store, peer, expected_fingerprint=expected.get(peer), wait=0)
                )
            except UnpublishedBundleError:
                continue  # maybe not synced yet: looked at again until the deadline
            except SealpackError as exc:
                _leave_out(keys, peer, exc)
            pending.remove(peer)
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    for peer in pending:
        _leave_out(keys, peer, UnpublishedBundleError(f"no bundle within {wait} s"))
    if not pins:
        raise SyftFlwrConfigError("no datasite could be pinned: nothing to run with")
    return pins


def _leave_out(keys: DatasiteKeys, peer: str, exc: Exception) -> None:
    _log.error("sealpack: datasite %s left out of this run: %s: %s", peer, type(exc).__name__, exc)
    with contextlib.suppress(OSError):
        (keys.pins / f"{peer}.json").unlink(missing_ok=True)


def main(project_dir: str | os.PathLike[str]) -> None:
    """Run this SyftBox participant (datasite or aggregator) of the project, sealed.

    Args:
        project_dir: The bootstrapped syft-flwr project (its ``pyproject.toml``).

    Raises:
        SyftFlwrConfigError: syft-crypto is asked for, or this email has no role.
    """
    switch_off_syft_crypto()
    compat.install_flwr_shims()
    compat.install_atomic_rpc_writes()
    project = Path(project_dir)
    config_mod = compat.syft_module("syft_flwr.config")
    conf = config_mod.load_flwr_pyproject(project)
    syft = conf["tool"]["syft_flwr"]
    client = compat.syft_module("syft_flwr.client").create_client(project_dir=project)
    email, datasites = client.email, Path(client.datasites)
    app_config = dict(conf["tool"]["flwr"]["app"]["config"])
    if email in syft["datasites"]:
        sealed = prepare(email, datasites, [syft["aggregator"]], server=False)
        _run_client(project, conf, email, {**app_config, **sealed})
    elif email == syft["aggregator"]:
        sealed = prepare(email, datasites, list(syft["datasites"]), server=True)
        _run_server(project, conf, {**app_config, **sealed})
    else:
        raise SyftFlwrConfigError(f"{email!r} is neither a datasite nor the aggregator")


def _context(node_id: int, node_config: dict[str, Any], run_config: dict[str, Any]) -> Any:
    common = importlib.import_module("flwr.common")
    record = importlib.import_module("flwr.common.record")
    return common.Context(
        run_id=uuid4().int,
        node_id=node_id,
        node_config=node_config,
        state=record.RecordDict(),
        run_config=run_config,
    )


def _run_client(
    project: Path, conf: dict[str, Any], email: str, node_config: dict[str, Any]
) -> None:
    load_app = importlib.import_module("flwr.common.object_ref").load_app
    error = importlib.import_module("flwr.clientapp.client_app").LoadClientAppError
    orchestrator = compat.syft_module("syft_flwr.fl_orchestrator")
    run_config = dict(conf["tool"]["flwr"]["app"]["config"])
    app = load_app(conf["tool"]["flwr"]["app"]["components"]["clientapp"], error, project)
    orchestrator.syftbox_flwr_client(
        client_app=app,
        context=_context(node_id_for(email), node_config, run_config),
        app_name=conf["tool"]["syft_flwr"]["app_name"],
        project_dir=project,
    )


def _run_server(project: Path, conf: dict[str, Any], run_config: dict[str, Any]) -> None:
    load_app = importlib.import_module("flwr.common.object_ref").load_app
    error = importlib.import_module("flwr.server.server_app").LoadServerAppError
    orchestrator = compat.syft_module("syft_flwr.fl_orchestrator")
    app = load_app(conf["tool"]["flwr"]["app"]["components"]["serverapp"], error, project)
    orchestrator.syftbox_flwr_server(
        server_app=app,
        context=_context(uuid4().int, dict(run_config), run_config),
        datasites=conf["tool"]["syft_flwr"]["datasites"],
        app_name=conf["tool"]["syft_flwr"]["app_name"],
        project_dir=project,
    )


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 86400:
        raise SyftFlwrConfigError(f"{PIN_WAIT_ENV} must be seconds (0 to 86400), not {value!r}")
    return seconds


def _fingerprints(value: object) -> dict[str, str]:
    """Parse ``"a@x.org=12345 ...;b@y.org=..."`` into a mapping (empty when unset)."""
    if not isinstance(value, str) or not value.strip():
        return {}
    items = [item for item in value.split(";") if item.strip()]
    if any("=" not in item for item in items):
        raise SyftFlwrConfigError(f"{FINGERPRINTS_ENV} must look like 'a@x.org=12345 ...;...'")
    pairs = (item.split("=", 1) for item in items)
    return {email.strip(): digits.strip() for email, digits in pairs}
