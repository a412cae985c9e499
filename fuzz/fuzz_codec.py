"""atheris fuzz target: the codec decoder (sealpack.fobs.loads) on arbitrary bytes.

Run (atheris needs a clang-built CPython wheel; see SECURITY.md):
    pip install atheris
    python fuzz/fuzz_codec.py -max_len=65536 -runs=1000000 fuzz/corpus_codec/

Each input is decoded as is and spliced over part of a real frame (to start past the
magic check), each time without and with a typed expectation (``expect=``). Any exception
other than a SealpackError is a bug; atheris reports it with the input.
"""

from __future__ import annotations

import contextlib
import sys

import atheris

with atheris.instrument_imports():
    from sealpack import errors
    from sealpack.serialization import Codec, like

CODEC = Codec(oob_threshold=16)
VALUE = {"a": [1, 2.5, "s" * 20, b"b" * 20], "t": (1, {2}), "n": None}
SEED = CODEC.dumps(VALUE)
EXPECT = like(VALUE)


def _decode(data: bytearray) -> None:
    for expect in (None, EXPECT):
        with contextlib.suppress(errors.SealpackError):
            CODEC.loads(data, expect=expect)


def test_one_input(data: bytes) -> None:
    """Decode ``data``; only SealpackError subclasses may escape (and are expected)."""
    _decode(bytearray(data))
    provider = atheris.FuzzedDataProvider(data)
    at = provider.ConsumeIntInRange(0, len(SEED) - 1)
    patch = provider.ConsumeBytes(provider.remaining_bytes())
    _decode(bytearray(SEED[:at] + patch + SEED[at + len(patch) :]))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
