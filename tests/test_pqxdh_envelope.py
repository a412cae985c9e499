"""PQXDH through sealed blobs (issue 14): 1 and 10 recipients, PQ one-time prekeys consumed
once across processes, and an adversary that breaks X25519 facing a real blob."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sealpack import api, errors, primitives, x3dh
from sealpack.envelope import header as hdr
from sealpack.envelope import suite
from sealpack.keys import Identity, KeyStore
from tests.conftest import feeder

NOW = 1_700_000_000
PASS = b"recipient passphrase"


@pytest.mark.parametrize("count", [1, 10])
@pytest.mark.parametrize("pq_one_time", [0, 2])
def test_hybrid_round_trip(count: int, pq_one_time: int) -> None:
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    recipients = [
        Identity.generate(f"r{i}", one_time_prekeys=1, pq_one_time_prekeys=pq_one_time, now=NOW)
        for i in range(count)
    ]
    obj = {"weights": list(range(100)), "round": 3}
    blob = api.seal(obj, sender=alice, recipients=[r.bundle() for r in recipients], now=NOW)
    stanzas = api.inspect(blob).recipients
    assert len(stanzas) == count and all(s.hybrid for s in stanzas)
    expected_pq = 2 if pq_one_time else 1  # a PQ one-time prekey when published, else last-resort
    assert {s.pq_prekey_id for s in stanzas} == {expected_pq}
    for recipient in recipients:
        assert api.unseal(blob, recipient=recipient, senders=[alice.bundle()], now=NOW) == obj
        assert recipient.pq_one_time_prekey_ids() == list(range(3, 2 + pq_one_time))


_OPEN_IN_A_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sealpack import api, errors
    from sealpack.keys import KeyBundle, KeyStore
    store_path, sender_file, blob_file = sys.argv[1:4]
    sender = KeyBundle.from_json(Path(sender_file).read_text(), now=1_700_000_000)
    with KeyStore.open(store_path, passphrase=b"recipient passphrase", now=1_700_000_000) as store:
        try:
            api.unseal(Path(blob_file).read_bytes(), recipient=store, senders=[sender],
                       now=1_700_000_000)
        except errors.PrekeyError:
            print("PrekeyError")
        else:
            print("opened")
    """
)


def test_pq_one_time_prekey_consumed_once_across_processes(tmp_path: Path) -> None:
    """Two senders were handed the same PQ one-time prekey; two processes open their blobs
    against one key store: the first consumes it durably, the second is refused."""
    bob = Identity.generate("bob", one_time_prekeys=0, pq_one_time_prekeys=1, now=NOW)
    claimed = bob.bundle().with_one_time_prekeys([], pq_ids=[2])
    KeyStore.create(tmp_path / "bob", bob, passphrase=PASS, scrypt_n=2**10).close()
    outcomes = []
    for name in ("alice", "carol"):
        sender = Identity.generate(name, one_time_prekeys=0, now=NOW)
        blob = api.seal(name, sender=sender, recipients=[claimed], now=NOW)
        assert api.inspect(blob).recipients[0].pq_prekey_id == 2
        (tmp_path / f"{name}.blob").write_bytes(blob)
        (tmp_path / f"{name}.json").write_text(sender.bundle().to_json())
        argv = [
            str(tmp_path / "bob"),
            str(tmp_path / f"{name}.json"),
            str(tmp_path / f"{name}.blob"),
        ]
        run = subprocess.run(
            [sys.executable, "-c", _OPEN_IN_A_PROCESS, *argv],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        outcomes.append(run.stdout.strip())
    assert outcomes == ["opened", "PrekeyError"]
    with KeyStore.open(tmp_path / "bob", passphrase=PASS, now=NOW) as store:
        assert store.identity.pq_one_time_prekey_ids() == []


def test_adversary_with_every_x25519_key_cannot_open_a_hybrid_blob() -> None:
    """Bob's X25519 private keys (identity, signed and one-time prekey) are handed to the
    adversary, who also reads the blob: every key it can derive without the ML-KEM
    secret fails to unwrap the content key; with that secret it succeeds."""
    seeds = [primitives.sha256(bytes([i])) for i in range(3)]
    kem_seed = primitives.sha512(b"bob's PQ last-resort prekey")
    bob = Identity.generate(
        "bob", one_time_prekeys=1, now=NOW, rng=feeder([seeds[0], seeds[1], kem_seed, seeds[2]])
    )
    alice = Identity.generate("alice", one_time_prekeys=0, now=NOW)
    blob = api.seal({"secret": 42}, sender=alice, recipients=[bob.bundle()], now=NOW)
    header = hdr.parse_header(blob, hdr.EnvelopeLimits())
    (stanza,) = header.stanzas
    assert stanza.kem_ciphertext is not None and stanza.one_time_prekey_id == 1
    ik_b = primitives.ed25519_seed_to_x25519_private(seeds[0])
    spk_b, opk_b = seeds[1], seeds[2]
    ek_a = stanza.ephemeral_key
    ik_a = x3dh.encode_identity_key(alice.public_identity_key)
    dhs = [
        primitives.x25519(spk_b, ik_a),
        primitives.x25519(ik_b, ek_a),
        primitives.x25519(spk_b, ek_a),
        primitives.x25519(opk_b, ek_a),
    ]
    ad = (
        ik_a + primitives.x25519_public_from_private(ik_b) + suite.stanza_context(header.core_bytes)
    )
    pad = b"\xff" * 32
    for ikm in (pad + b"".join(dhs), pad + b"".join(dhs) + bytes(32)):
        for info in (x3dh.INFO, x3dh.PQ_INFO):
            guess = primitives.hkdf_sha256(ikm, salt=bytes(32), info=info, length=32)
            with pytest.raises(errors.TamperedError):
                suite.unwrap_content_key(guess, ad, stanza.wrapped_key)
    shared = primitives.mlkem768_decapsulate(
        primitives.mlkem768_private_from_seed(kem_seed), stanza.kem_ciphertext
    )
    content_key = suite.unwrap_content_key(
        x3dh.derive_shared_key(dhs, shared), ad, stanza.wrapped_key
    )
    assert len(content_key) == 32
