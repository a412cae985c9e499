"""Run NVFLARE's simulator (SimEnv) on a 2-client job, plain or sealed, with a wire tap."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.integrations.nvflare.keys_harness import PASSPHRASE, PASSPHRASE_ENV, make_keys

HERE = Path(__file__).parent
CLIENT_SCRIPT = HERE / "client_train.py"
SITES = ["server", "site-1", "site-2"]


def initial_model() -> np.ndarray:
    """A model whose bytes are easy to find on the wire (16 KiB of float64)."""
    return np.linspace(0.123, 9.876, 2048).reshape(8, 256)


@dataclass
class SimRun:
    """What one simulator run left behind."""

    workspace: Path
    tap: Path
    records: Path
    error: str = ""

    def final_model(self) -> np.ndarray:
        """The model the server persisted at the end."""
        models = self.workspace / "server" / "simulate_job" / "models" / "server.npy"
        return np.asarray(np.load(models, allow_pickle=False))

    def frames(self) -> bytes:
        """Every frame any simulator process sent over CellNet, concatenated."""
        return b"".join(p.read_bytes() for p in sorted(self.tap.glob("frames-*.bin")))

    def tapped_processes(self) -> int:
        """How many processes the tap recorded frames from."""
        return len(list(self.tap.glob("frames-*.bin")))

    def submissions(self) -> list[dict[str, Any]]:
        """(client, return code, content keys) of every result the server processed."""
        if not self.records.exists():
            return []
        return [json.loads(line) for line in self.records.read_text().splitlines()]

    def server_log(self) -> str:
        """The server's log."""
        return (self.workspace / "server" / "log.txt").read_text(errors="replace")


def setup_keys(root: Path, monkeypatch: Any) -> tuple[str, str]:
    """Key stores for the server and two clients; the passphrase in the environment."""
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    return make_keys(root / "keys", SITES)


def _add_components(recipe: Any, root: Path, attack: str) -> None:
    from nvflare.job_config.defs import FilterType

    from tests.integrations.nvflare.sim_components import (
        CrossSiteReplayAttack,
        FlipBitAttack,
        FrameTap,
        ResultRecorder,
    )

    job = recipe._job
    job.to_server(FrameTap(str(root / "tap")), id="frame_tap")
    job.to_clients(FrameTap(str(root / "tap")), id="frame_tap")
    job.to_server(ResultRecorder(str(root / "records.jsonl")), id="result_recorder")
    if attack == "flip":
        job.to_clients(FlipBitAttack("site-1"), filter_type=FilterType.TASK_DATA, tasks=["train"])
    elif attack == "replay":
        replay = CrossSiteReplayAttack("site-1", "site-2")
        job.to_server(replay, filter_type=FilterType.TASK_RESULT, tasks=["train"])


def run_fedavg(root: Path, keys: tuple[str, str] | None, *, attack: str = "") -> SimRun:
    """Run a NumpyFedAvgRecipe (2 clients, 2 rounds); sealed when ``keys`` is given.

    ``attack``: "flip" flips a bit of site-1's second task on its way in; "replay"
    hands the server site-1's first sealed result as site-2's second one; "wildcard"
    registers sealpack's filters for ``tasks=["*"]`` by hand (they never run).
    """
    from nvflare.app_common.np.recipes.fedavg import NumpyFedAvgRecipe

    from sealpack.integrations.nvflare import add_sealpack

    name = "sealed" if keys else "plain"
    recipe = NumpyFedAvgRecipe(
        name=name,
        model=initial_model().tolist(),
        min_clients=2,
        num_rounds=2,
        train_script=str(CLIENT_SCRIPT),
    )
    _add_components(recipe, root, attack)
    if keys and attack == "wildcard":
        _add_with_wildcard(recipe, keys)
    elif keys:
        add_sealpack(recipe, keystore=keys[0], bundles=keys[1], unlock_env=PASSPHRASE_ENV)
    return _execute(recipe, root, name)


def _add_with_wildcard(recipe: Any, keys: tuple[str, str]) -> None:
    """The prototype's mistake: sealpack's filters registered for tasks=["*"] by hand."""
    from sealpack.integrations.nvflare import filters as flt
    from sealpack.integrations.nvflare.guard import SealpackGuard

    args = {"keystore": keys[0], "bundles": keys[1], "unlock_env": PASSPHRASE_ENV}
    recipe.add_server_output_filter(flt.SealTaskDataFilter(**args), tasks=["*"])
    recipe.add_server_input_filter(flt.OpenTaskResultFilter(**args), tasks=["*"])
    recipe.add_client_input_filter(flt.OpenTaskDataFilter(**args), tasks=["*"])
    recipe.add_client_output_filter(flt.SealTaskResultFilter(**args), tasks=["*"])
    recipe._job.to_server(SealpackGuard(), id="sealpack_guard")
    recipe._job.to_clients(SealpackGuard(), id="sealpack_guard")


def _execute(recipe: Any, root: Path, name: str) -> SimRun:
    from nvflare.recipe import SimEnv

    from sealpack.integrations.nvflare import allow_sealpack_components

    workspace_root = root / "ws"
    allow_sealpack_components(workspace_root / name / "local" / "resources.json.default")
    run = SimRun(workspace_root / name, root / "tap", root / "records.jsonl")
    cwd = os.getcwd()
    os.chdir(root)  # NVFLARE writes the exported job next to the working directory
    try:
        recipe.execute(SimEnv(num_clients=2, workspace_root=str(workspace_root)))
    except RuntimeError as exc:
        run.error = str(exc)
    finally:
        os.chdir(cwd)
    return run


def run_cyclic(root: Path, keys: tuple[str, str], *, peer_mode: bool = True) -> SimRun:
    """Run a Cyclic job (2 clients, 2 rounds) with the tap. Peer mode: clients seal for
    each other; otherwise the server opens every result and seals the next task."""
    from nvflare.app_common.np.np_model_persistor import NPModelPersistor
    from nvflare.recipe.cyclic import CyclicRecipe

    from sealpack.integrations.nvflare import add_sealpack
    from tests.integrations.nvflare.sim_components import SealedModelPersistor

    persistor = SealedModelPersistor if peer_mode else NPModelPersistor

    class NumpyCyclicRecipe(CyclicRecipe):  # type: ignore[misc]
        def _setup_model_and_persistor(self, job: Any) -> str:
            job.to_server(persistor(model=initial_model().tolist()), id="persistor")
            return "persistor"

    name = "cyclic" if peer_mode else "cyclic_plainmode"
    recipe = NumpyCyclicRecipe(
        name=name,
        model=initial_model().tolist(),
        min_clients=2,
        num_rounds=2,
        train_script=str(CLIENT_SCRIPT),
    )
    _add_components(recipe, root, "")
    add_sealpack(
        recipe, keystore=keys[0], bundles=keys[1], unlock_env=PASSPHRASE_ENV, peer_mode=peer_mode
    )
    return _execute(recipe, root, name)


def open_final_relay(run: SimRun, keys: tuple[str, str], *, opener: str, sender: str) -> Any:
    """Open the sealed model a peer-mode server persisted, as client ``opener``."""
    import sealpack
    from sealpack.integrations.nvflare.codec import nvflare_codec

    saved = np.load(run.workspace / "server" / "simulate_job" / "models" / "server.npz")
    assert list(saved.files) == ["__sealpack__"]
    store = sealpack.KeyStore.open(keys[0].format(site=opener), passphrase=PASSPHRASE.encode())
    try:
        bundle = sealpack.KeyBundle.from_json(Path(keys[1], f"{sender}.json").read_text())
        payload, info = sealpack.unseal(
            memoryview(saved["__sealpack__"]),
            recipient=store,
            senders=[bundle],
            with_metadata=True,
            codec=nvflare_codec(),
        )
    finally:
        store.close()
    bound = info.metadata["nvflare"]
    assert (bound["dir"], bound["from"], bound["to"]) == ("relay", sender, [opener])
    return payload["content"]["DXO"]["data"]["numpy_key"]
