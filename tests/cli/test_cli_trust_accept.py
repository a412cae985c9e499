"""``sealpack trust accept NAME [--expect FINGERPRINT]``: a blind accept cannot replace a pin."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealpack import errors
from sealpack.exchange import Peer
from sealpack.keys import Identity, KeyStore, fingerprint_matches
from tests.exchange.test_cli_exchange import fast_keystores, home, run

__all__ = ["fast_keystores", "home"]  # fixtures used here


def _bob_pins_alice(tmp_path: Path) -> tuple[str, Path]:
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    run(["trust", "accept", "alice", "--root", site, "--as", "bob"])
    return site, tmp_path / "home" / ".sealpack" / "keystores" / "bob"


def _pinned_alice(bob_store: Path) -> bytes | None:
    with KeyStore.open(bob_store, passphrase=b"correct horse") as store:
        return store.trust_store.pinned_key("alice")


def _impostor_publishes_alice(site: str, tmp_path: Path) -> str:
    """Someone who can write the synced folder republishes 'alice' with their own key."""
    impostor = Identity.generate("alice", one_time_prekeys=0)
    Peer("alice", site, keystore=impostor).close()
    return impostor.fingerprint()


@pytest.mark.usefixtures("home")
def test_a_blind_accept_cannot_replace_a_pin_with_the_impostors_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack: after bob's receive reports 'identity-changed', bob runs the suggested
    ``trust accept alice``. Before, that pinned whatever the folder published: the
    impostor. Now replacing a pin needs --expect with the new fingerprint."""
    site, bob_store = _bob_pins_alice(tmp_path)
    honest = _pinned_alice(bob_store)
    forged = _impostor_publishes_alice(site, tmp_path)
    capsys.readouterr()
    with pytest.raises(errors.IdentityChangedError, match="--expect") as refused:
        run(["trust", "accept", "alice", "--root", site, "--as", "bob"])
    assert forged in str(refused.value)  # shown, to be compared out of band
    assert _pinned_alice(bob_store) == honest
    assert "trusted" not in capsys.readouterr().out


@pytest.mark.usefixtures("home")
def test_accept_with_another_fingerprint_pins_nothing(tmp_path: Path) -> None:
    site, bob_store = _bob_pins_alice(tmp_path)
    honest = _pinned_alice(bob_store)
    _impostor_publishes_alice(site, tmp_path)
    wrong = Identity.generate("x", one_time_prekeys=0).fingerprint()
    with pytest.raises(errors.IdentityChangedError, match="nothing was pinned"):
        run(["trust", "accept", "alice", "--root", site, "--as", "bob", "--expect", wrong])
    assert _pinned_alice(bob_store) == honest


@pytest.mark.usefixtures("home")
def test_accept_with_the_compared_fingerprint_replaces_the_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real key change (alice moved machines): the fingerprint she read out on a call."""
    site, bob_store = _bob_pins_alice(tmp_path)
    new = _impostor_publishes_alice(site, tmp_path)
    capsys.readouterr()
    typed = new.replace(" ", "")  # typed as one run of digits
    assert run(["trust", "accept", "alice", "--root", site, "--as", "bob", "--expect", typed]) == 0
    out = capsys.readouterr().out
    assert "was " in out and f"trusted alice  {new}" in out
    pinned = _pinned_alice(bob_store)
    assert pinned is not None and fingerprint_matches(pinned, new)


@pytest.mark.usefixtures("home")
def test_a_first_pin_without_expect_is_trust_on_first_use_with_a_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    capsys.readouterr()
    assert run(["trust", "accept", "alice", "--root", site, "--as", "bob"]) == 0
    captured = capsys.readouterr()
    assert "trusted alice" in captured.out
    assert "compare this fingerprint with alice out of band" in captured.err
