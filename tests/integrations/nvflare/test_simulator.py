"""sealpack inside NVFLARE's own simulator (SimEnv): 2 clients, 2 rounds, real processes.

Each test runs the simulator once or twice (~15-20 s per run). A tap component copies
every CellNet frame any simulator process sends; the plain run is the tap's positive
control (the model's bytes are found there), the sealed runs must show none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nvflare")

from tests.integrations.nvflare import sim_harness as sim

pytestmark = pytest.mark.slow

FLOAT32_STEPS = (0.0, 0.25, 0.5)  # the initial model and each client's first update


def _model_windows() -> list[bytes]:
    """64-byte windows of every model the first round puts on the wire (as float32,
    which NVFLARE's numpy persistor sends) at three offsets each."""
    windows = []
    for step in FLOAT32_STEPS:
        array = sim.initial_model().astype(np.float32)
        array += step
        data = array.tobytes()
        windows += [data[offset : offset + 64] for offset in (0, 4000, 8000)]
    return windows


def _leaks(frames: bytes) -> int:
    return sum(window in frames for window in _model_windows())


def test_fedavg_sealed_equals_plain_and_wire_carries_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sim.setup_keys(tmp_path, monkeypatch)
    plain = sim.run_fedavg(tmp_path / "plain", None)
    sealed = sim.run_fedavg(tmp_path / "sealed", keys)

    assert plain.error == "" and sealed.error == ""
    np.testing.assert_array_equal(sealed.final_model(), plain.final_model())
    expected = sim.initial_model().astype(np.float32) + np.float32(0.75)  # 2 rounds of +0.375
    np.testing.assert_allclose(sealed.final_model(), expected, rtol=1e-6)
    assert [s["rc"] for s in sealed.submissions()] == ["OK"] * 4
    # The tap saw the server and both clients; in the clear it finds every model...
    assert plain.tapped_processes() == sealed.tapped_processes() == 3
    assert _leaks(plain.frames()) == len(_model_windows())
    # ...sealed, none, while sealed blobs did cross (4 tasks + 4 results).
    assert _leaks(sealed.frames()) == 0
    assert sealed.frames().count(b"SEALPACK") >= 8
    # The blob (a uint8 array) travelled through NVFLARE's download service, as arrays do.
    assert "download ref=" in (sealed.workspace / "site-1" / "log.txt").read_text()
    # IntimeModelSelector read the opened result (metrics), not the sealed one.
    log = sealed.server_log()
    assert "new best validation metric" in log
    assert "not a valid DXO" not in log


def test_fedavg_bit_flip_refused_with_task_data_filter_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sim.run_fedavg(tmp_path, sim.setup_keys(tmp_path, monkeypatch), attack="flip")

    codes = [(s["client"], s["rc"], s["content"]) for s in run.submissions()]
    assert all(rc == "OK" for _, rc, _ in codes[:2])
    assert ("site-1", "TASK_DATA_FILTER_ERROR", []) in codes[2:]
    assert "RefusedPayloadError" in (run.workspace / "site-1" / "log.txt").read_text()
    assert run.error  # FedAvg stops the job on a bad result: nothing ran on tampered data


def test_fedavg_result_replayed_between_sites_refused_with_result_filter_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sim.run_fedavg(tmp_path, sim.setup_keys(tmp_path, monkeypatch), attack="replay")

    by_site = {site: [(s["rc"], s["content"]) for s in run.submissions() if s["client"] == site]
               for site in ("site-1", "site-2")}  # fmt: skip
    assert all(rc == "OK" for rc, _ in by_site["site-1"])  # round 1 of site-1 may be first
    assert by_site["site-2"] == [("OK", ["DXO"]), ("TASK_RESULT_FILTER_ERROR", [])]
    assert "sealed payload refused" in run.server_log()


def test_filters_on_a_wildcard_never_run_and_the_guard_fails_the_job_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = sim.run_fedavg(tmp_path, sim.setup_keys(tmp_path, monkeypatch), attack="wildcard")

    refusal = "did not pass sealpack's filters"
    assert refusal in run.server_log()  # the server guard wiped the unsealed task
    assert refusal in (run.workspace / "site-1" / "log.txt").read_text()  # and the client's
    submissions = run.submissions()
    assert submissions and all(s["rc"] != "OK" and not s["content"] for s in submissions)
    assert run.error  # the job failed instead of training in the clear
    assert run.tapped_processes() == 3
    assert _leaks(run.frames()) == 0  # the server wiped the unsealed task before sending


def test_cyclic_peer_mode_server_relays_only_sealed_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = sim.setup_keys(tmp_path, monkeypatch)
    run = sim.run_cyclic(tmp_path, keys)

    assert run.error == ""
    assert [s["rc"] for s in run.submissions()] == ["OK"] * 4
    assert run.tapped_processes() == 3
    assert _leaks(run.frames()) == 0
    assert run.frames().count(b"SEALPACK") >= 8
    # The server never held the model: what it persisted is the last client's blob,
    # sealed for the other client, which opens it to the expected model.
    final = sim.open_final_relay(run, keys, opener="site-1", sender="site-2")
    expected = sim.initial_model().astype(np.float32)
    for step in (0.25, 0.5, 0.25, 0.5):
        expected += np.float32(step)
    np.testing.assert_array_equal(final, expected)


def test_cyclic_default_mode_keeps_every_clients_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure (honest run): Cyclic relays ONE task (one MSG_ROOT_ID, one round) to each
    client in turn, with the previous client's result as its data. The server's task
    filter cached the sealed blob by the binding only, so site-2 got the blob sealed
    for site-1 and site-1's step was silently dropped every round (w0 + 1.0 instead of
    w0 + 1.5: each round site-1 adds 0.25, site-2 0.5)."""
    keys = sim.setup_keys(tmp_path, monkeypatch)
    run = sim.run_cyclic(tmp_path, keys, peer_mode=False)

    assert run.error == ""
    assert [s["rc"] for s in run.submissions()] == ["OK"] * 4
    np.testing.assert_allclose(run.final_model(), sim.initial_model() + 1.5, rtol=1e-5)
    assert _leaks(run.frames()) == 0
