"""syft-crypto as a peer in the benchmarks, run in its own interpreter.

syft-crypto 0.1.2 pins ``cryptography<45`` while sealpack needs >= 47, so the two cannot
share one environment. :func:`syft_crypto_python` finds or builds one for it (the
interpreter named by ``SEALPACK_BENCH_SYFT_PYTHON``, else ``.venv-syftcrypto312`` at the
repository root, built once with ``uv pip install syft-flwr==0.5.3``, which brings
syft-crypto), and :func:`syft_small_ms` times syft-crypto's 1 KiB encrypt + decrypt
(``small.syft_round_trip``) there, so ``make bench`` shows it beside sealpack's round
trip and the session rows.

Run as ``python syft_peer.py --small ROUNDS INNER`` (inside the syft-crypto interpreter)
to print ``{"ms": median}``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def syft_crypto_python(python312: str | None = None, needs: str = "syft_crypto") -> str:
    """An interpreter that imports syft-crypto (built on first use).

    Args:
        python312: the Python 3.12/3.13 to build the environment from; found if omitted.
        needs: the module the caller needs there (``syft_flwr`` for the federation).

    Returns:
        The path of that interpreter.

    Raises:
        RuntimeError: when no Python 3.12/3.13 is available to build it.
        subprocess.CalledProcessError: when the install fails (no network, say).
    """
    given = os.environ.get("SEALPACK_BENCH_SYFT_PYTHON")
    if given and _imports(given, needs):
        return given
    env_python = REPO / ".venv-syftcrypto312" / "bin" / "python"
    if not env_python.exists():
        python312 = python312 or _find_python312()
        subprocess.run([python312, "-m", "venv", str(env_python.parent.parent)], check=True)
        subprocess.run([str(env_python), "-m", "pip", "install", "-q", "uv"], check=True)
        install = ["-m", "uv", "pip", "install", "-q", "--python", str(env_python)]
        subprocess.run([str(env_python), *install, "syft-flwr==0.5.3"], check=True)
    return str(env_python)


def _find_python312() -> str:
    sys.path.insert(0, str(REPO))
    from tests.integrations.syft_flwr.syft_env import find_python312

    python = find_python312()
    if python is None:
        raise RuntimeError("syft-crypto needs Python 3.12 or 3.13 (set SEALPACK_PYTHON312)")
    return str(python)


def _imports(python: str, module: str) -> bool:
    probe = [python, "-c", f"import {module}"]
    return subprocess.run(probe, check=False, capture_output=True).returncode == 0


def syft_clients(count: int, root: Path) -> list[Any]:
    """``count`` bootstrapped syft-crypto clients under ``root`` (inside its interpreter).

    Raises:
        ImportError: syft-crypto (or loguru, syft_core) is not installed here.
    """
    from loguru import logger
    from syft_core import Client, SyftClientConfig
    from syft_crypto import bootstrap_user

    logger.remove()
    clients = []
    for index in range(count):
        email = f"user{index}@example.org"
        config = SyftClientConfig(
            data_dir=root / "data",
            email=email,
            server_url="https://syftbox.net",
            path=root / f"{email}.json",
        )
        client = Client(config)
        bootstrap_user(client)
        clients.append(client)
    return clients


def syft_small_ms(rounds: int, inner: int) -> float:
    """Median ms of syft-crypto's 1 KiB encrypt + decrypt, in its own interpreter."""
    command = [syft_crypto_python(), __file__, "--small", str(rounds), str(inner)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["ms"])


def _inside_small(rounds: int, inner: int) -> None:
    sys.path.insert(0, str(HERE))
    from small import _median_ms, syft_round_trip

    function = syft_round_trip()
    _median_ms(function, 1, 20)  # warm up
    samples = [_median_ms(function, 1, inner) for _ in range(rounds)]
    print(json.dumps({"ms": statistics.median(samples)}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--small"]:
        _inside_small(int(sys.argv[2]), int(sys.argv[3]))
    else:
        print(syft_crypto_python())
