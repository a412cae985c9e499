"""The FL demo runs end to end in a reduced size."""

from __future__ import annotations

import pytest

from sealpack import demo


def test_demo_round_small(capsys: pytest.CaptureFixture[str]) -> None:
    report = demo.run(size_mb=0.5, clients=3)
    assert report.attacks_refused()
    assert sorted(report.quarantined) == ["replayed", "tampered"]
    assert len(report.verified) == 6  # 3 clients open the model, server opens 3 updates
    assert report.max_abs_error < 1e-5
    out = capsys.readouterr()
    assert "FedAvg over 3 verified updates" in out.out
    assert "refused, in quarantine" in out.out
    assert "reason: replayed (message was already accepted (replay))" in out.out
    assert "reason: tampered" in out.out
    assert "reason: prekey" not in out.out
    assert "%" not in out.err  # progress bars are drawn on a terminal only, never into logs
    verified = [line.strip() for line in out.out.splitlines() if "verified: sender=" in line]
    assert len(verified) == 6  # one line per verification, updates included
    for index in (1, 2, 3):
        update = f"verified: sender=client{index} metadata={{'round': 1, 'kind': 'update', "
        assert any(line.startswith(update) for line in verified)
        assert f"'num_examples': {100 * index}}}" in "\n".join(verified)


def test_demo_main_exit_code() -> None:
    assert demo.main(["--size-mb", "0.2", "--clients", "2"]) == 0


def test_fed_avg_weights_by_examples() -> None:
    import numpy as np

    a = {"w": np.array([1.0, 2.0], dtype=np.float32)}
    b = {"w": np.array([3.0, 6.0], dtype=np.float32)}
    averaged = demo.fed_avg([(a, 1), (b, 3)])
    np.testing.assert_allclose(averaged["w"], [2.5, 5.0])


def test_attacks_refused_needs_exactly_replayed_and_tampered() -> None:
    for reasons, expected in (
        (["tampered", "replayed"], True),
        (["prekey", "tampered"], False),
        (["tampered"], False),
        (["replayed", "tampered", "tampered"], False),
    ):
        assert demo.DemoReport(quarantined=reasons).attacks_refused() is expected
