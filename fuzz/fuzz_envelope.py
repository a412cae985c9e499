"""atheris fuzz target: the envelope parser and opener on arbitrary bytes.

Each input is tried three ways: ``inspect`` (header parser only), ``unseal`` of the
input as a whole blob, and ``unseal`` of a real sealed blob with the input spliced
over part of it (so the fuzzer starts past the magic and version checks).

Run:
    pip install atheris
    python fuzz/fuzz_envelope.py -max_len=16384 -runs=1000000 fuzz/corpus_envelope/
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from sealpack import api, errors
    from sealpack.keys import Identity

NOW = 1_800_000_000
ALICE = Identity.generate("alice", one_time_prekeys=0, now=NOW - 60)
BOB = Identity.generate("bob", one_time_prekeys=0, now=NOW - 60)
SENDERS = [ALICE.bundle()]
SEED = api.seal({"w": list(range(100))}, sender=ALICE, recipients=[BOB.bundle()], now=NOW)


def _must_fail(blob: bytes) -> None:
    try:
        api.unseal(blob, recipient=BOB, senders=SENDERS, now=NOW)
    except errors.SealpackError:
        return
    if blob != SEED:
        raise AssertionError("a mutated blob was accepted")


def test_one_input(data: bytes) -> None:
    """Run the parser and the opener; only SealpackError may escape."""
    with contextlib.suppress(errors.SealpackError):
        api.inspect(data)
    _must_fail(data)
    provider = atheris.FuzzedDataProvider(data)
    at = provider.ConsumeIntInRange(0, len(SEED) - 1)
    patch = provider.ConsumeBytes(provider.remaining_bytes())
    _must_fail(SEED[:at] + patch + SEED[at + len(patch) :])


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
