"""Issue 10.11: many handles on one key store (threads and real processes) lose nothing.

On sealpack 0.1 every handle rewrote ``identity.key`` from its own memory with no lock:
a ``receive`` beside a ``prekeys rotate`` destroyed the fresh signed prekey, and a
rotation beside a ``receive`` wrote the consumed one-time prekey's private key back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from sealpack import errors
from sealpack.keys import Identity, KeyStore
from sealpack.keys.keyfile import decode_keyfile, read_header
from sealpack.keys.keystore import KEY_FILE
from sealpack.keys.store_lock import StoreLock
from tests.keys.stores import swap_in_unencrypted_key_file

PASS = b"pw"
FAST = 2**10

_COMMON = """
import json, sys
from sealpack import errors, x3dh
from sealpack.keys import Identity, KeyStore
path, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
"""

RECEIVER = _COMMON + textwrap.dedent(
    """
    store = KeyStore.open(path, passphrase=b"pw")  # one handle for the whole run
    alice = Identity.generate("alice", one_time_prekeys=0)
    used = []
    for step in range(steps):
        store.refresh()
        ids = store.identity.one_time_prekey_ids()
        if not ids:
            continue
        bundle = store.identity.bundle()
        sent = x3dh.initiate(
            alice, bundle, one_time_prekey_id=ids[0], pq_prekey_id=bundle.pq_prekey.id
        )
        x3dh.respond(store.identity, sent.header, consume=False)
        try:
            store.identity._commit_open(
                alice.key_id, step.to_bytes(8, "big") + out.encode(), b"d" * 32, 2**40,
                one_time_prekey_id=ids[0], pq_one_time_prekey_id=None, hold=False, now=0,
            )
        except errors.PrekeyError:
            continue  # the other receiver consumed it first: refused, not reused
        used.append(ids[0])
    json.dump(used, open(out, "w"))
    """
)

ROTATOR = _COMMON + textwrap.dedent(
    """
    made = {"spk": [], "opk": []}
    kept = KeyStore.open(path, passphrase=b"pw")  # a long-lived handle (a Flower client)
    for step in range(steps):  # and `sealpack prekeys rotate` / `replenish`: a handle each
        store = kept if step % 2 else KeyStore.open(path, passphrase=b"pw")
        store.identity.rotate_signed_prekey(grace_period=10**6)
        store.identity.replenish_one_time_prekeys(2)
        made["spk"].append(store.identity.signed_prekey_id)
        top = store.identity._state.next_one_time_prekey_id
        made["opk"] += [top - 2, top - 1]
        if store is not kept:
            store.close()
    json.dump(made, open(out, "w"))
    """
)

SENDER = _COMMON + textwrap.dedent(
    """
    peer = bytes(range(32))
    taken = []
    for _ in range(steps):  # like `sealpack send`: a handle each
        with KeyStore.open(path, passphrase=b"pw") as store:
            taken.append(store.identity.prekey_usage.take(peer, list(range(1, 200))))
    json.dump(taken, open(out, "w"))
    """
)


def _run_all(path: Path, tmp_path: Path, steps: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    roles = {"r1": RECEIVER, "r2": RECEIVER, "rot": ROTATOR, "s1": SENDER, "s2": SENDER}
    procs = {
        role: subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(steps), str(tmp_path / role)], env=env
        )
        for role, script in roles.items()
    }
    for role, proc in procs.items():
        assert proc.wait(timeout=240) == 0, role
    return {role: json.loads((tmp_path / role).read_text()) for role in roles}


def _ids_in_key_file(path: Path) -> set[int]:
    """Every one-time prekey id whose private key is in identity.key (held ones too)."""
    document, params = read_header((path / KEY_FILE).read_bytes())
    with KeyStore.open(path, passphrase=PASS) as store:
        state, held = decode_keyfile(document, store._file_key, params)
    return set(state.one_time_prekeys) | {i for (_, i) in held}


def test_processes_receive_rotate_and_send_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bob"
    KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=6), passphrase=PASS, scrypt_n=FAST
    ).close()
    out = _run_all(path, tmp_path, steps=12)
    consumed = [*out["r1"], *out["r2"]]  # type: ignore[misc]
    made = out["rot"]
    assert isinstance(made, dict)
    assert len(consumed) == len(set(consumed)) > 0  # no one-time prekey consumed twice
    with KeyStore.open(path, passphrase=PASS) as store:
        state = store.identity._state
        # every rotation kept, the newest one current
        assert set(made["spk"]) <= set(state.signed_prekeys)
        assert store.identity.signed_prekey_id == max(made["spk"])
        # every replenished one-time prekey is there unless a receiver consumed it
        created = set(range(1, 7)) | set(made["opk"])
        assert set(store.identity.one_time_prekey_ids()) == created - set(consumed)
        assert state.next_one_time_prekey_id == 7 + 2 * len(made["spk"])
        assert store._state.consumed_one_time_prekeys() == set(consumed)
    # no consumed private key was ever written back
    assert not _ids_in_key_file(path) & set(consumed)
    taken = [*out["s1"], *out["s2"]]  # type: ignore[misc]
    assert sorted(taken) == list(range(1, len(taken) + 1))  # no peer prekey used twice


def test_threads_with_two_handles_lose_no_rotation(tmp_path: Path) -> None:
    path = tmp_path / "bob"
    KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=0), passphrase=PASS, scrypt_n=FAST
    ).close()
    first, second = (KeyStore.open(path, passphrase=PASS) for _ in range(2))

    def work(store: KeyStore) -> None:
        for _ in range(10):
            store.identity.replenish_one_time_prekeys(1)

    threads = [threading.Thread(target=work, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.close()
    second.close()
    with KeyStore.open(path, passphrase=PASS) as store:
        assert store.identity.one_time_prekey_ids() == list(range(1, 21))


def test_a_long_lived_handle_sees_a_rotation_made_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "bob"
    KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=1), passphrase=PASS, scrypt_n=FAST
    ).close()
    watcher = KeyStore.open(path, passphrase=PASS)
    with KeyStore.open(path, passphrase=PASS) as cli:
        cli.identity.rotate_signed_prekey()
        new_id = cli.identity.signed_prekey_id
    # the watcher misses the new prekey, re-reads the key file, and finds it
    assert watcher.identity._signed_prekey_secret(new_id, now=0) is not None
    assert watcher.identity.signed_prekey_id == new_id
    watcher.identity.replenish_one_time_prekeys(1)  # and writes on top of the rotation
    watcher.close()
    with KeyStore.open(path, passphrase=PASS) as again:
        assert again.identity.signed_prekey_id == new_id
        assert again.identity.one_time_prekey_ids() == [1, 2]


def test_a_held_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bob"
    store = KeyStore.create(
        path,
        Identity.generate("bob", one_time_prekeys=0),
        passphrase=PASS,
        scrypt_n=FAST,
        lock_timeout=0.2,
    )
    other = StoreLock(path)  # another handle (its own open file description)
    with other.hold():
        with pytest.raises(errors.KeyStoreLockedError, match="locked by another handle"):
            store.identity.replenish_one_time_prekeys(1)
        with pytest.raises(errors.KeyStoreLockedError):
            KeyStore.open(path, passphrase=PASS, lock_timeout=0.1)
    store.identity.replenish_one_time_prekeys(1)  # released: works again
    assert store.identity.one_time_prekey_ids() == [1]
    store.close()


def test_lock_file_is_private_and_never_followed(tmp_path: Path) -> None:
    path = tmp_path / "bob"
    KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=0), passphrase=PASS, scrypt_n=FAST
    ).close()
    assert (path / ".lock").stat().st_mode & 0o777 == 0o600
    (path / ".lock").unlink()
    (path / ".lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(errors.KeyStoreError, match="lock"):
        KeyStore.open(path, passphrase=PASS)
    assert not (tmp_path / "elsewhere").exists()


def test_a_key_file_swapped_under_an_open_handle_is_refused(tmp_path: Path) -> None:
    path, other = tmp_path / "bob", tmp_path / "mallory"
    store = KeyStore.create(
        path, Identity.generate("bob", one_time_prekeys=0), passphrase=PASS, scrypt_n=FAST
    )
    swap_in_unencrypted_key_file(path, other)
    with pytest.raises(errors.KeyStoreError, match="changed its encryption"):
        store.identity.replenish_one_time_prekeys(1)
    store.close()
