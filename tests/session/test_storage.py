"""Session storage: transactions commit only on success; the state directory stays 0700."""

from __future__ import annotations

import shutil
import threading

import pytest

from sealpack.session import MemoryStorage, StoreStorage
from tests.session.conftest import established

PEER = bytes(range(32))


def test_memory_transaction_commits_only_on_success_and_always_unlocks():
    storage = MemoryStorage()
    first, second = object(), object()
    with storage.transaction(PEER) as states:
        states.append(first)
    with pytest.raises(RuntimeError), storage.transaction(PEER) as states:
        states.append(second)
        raise RuntimeError("the block failed")
    seen: list[object] = []

    def read() -> None:
        with storage.transaction(PEER) as states:
            seen.extend(states)

    worker = threading.Thread(target=read)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive() and seen == [first]  # unlocked, and nothing of the failure


def test_state_directory_is_made_again_with_its_mode(stores):
    a, b = stores
    sa, sb = established(a, b, a.identity.bundle(), b.identity.bundle())
    directory = StoreStorage(b).directory
    shutil.rmtree(directory)  # removed (with Bob's state) while the handles live
    assert sa.open(sb.seal("start again", allow_classical=True)) == "start again"
    assert directory.is_dir() and directory.stat().st_mode & 0o777 == 0o700
    directory.chmod(0o755)
    again = StoreStorage(b)  # a new handle checks the mode again
    with again.transaction(a.identity.public_identity_key) as states:
        states[0] = states[0].copy()
        states[0].last_received += 1
    assert directory.stat().st_mode & 0o777 == 0o700
