"""Build (once, cached) the Python 3.12 environment the syft-flwr tests run in.

It follows docs/integrations/syft-flwr.md exactly ("Install"): a venv, ``uv`` in it,
then ``uv pip install --override examples/syft_flwr/overrides.txt -e '.[syft-flwr]'``
(syft-flwr 0.5.3 and Flower 1.25 pin ``cryptography<45``; the override lifts that pin
to sealpack's ``cryptography>=47``; syft-crypto, the only user of the old API, stays
switched off). The environment lives in ``.venv-syft312/`` at the repository root
(gitignored) and is rebuilt only when a stamp over its inputs changes (sealpack's
dependencies, the extra, the override file, the interpreter).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ENV_DIR = REPO / ".venv-syft312"
OVERRIDES = REPO / "examples" / "syft_flwr" / "overrides.txt"
RECIPE_VERSION = "1"


def find_python312() -> str | None:
    """A Python 3.12 or 3.13 interpreter: $SEALPACK_PYTHON312, PATH, or pyenv."""
    candidates = [os.environ.get("SEALPACK_PYTHON312", "")]
    candidates += [shutil.which(n) or "" for n in ("python3.12", "python3.13")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[23].*/bin/python")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] in ((3, 12), (3, 13)))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


def recipe(python: str) -> list[list[str]]:
    """The documented install commands, run from the repository root."""
    env_python = str(ENV_DIR / "bin" / "python")
    return [
        [python, "-m", "venv", str(ENV_DIR)],
        [env_python, "-m", "pip", "install", "--quiet", "uv"],
        [env_python, "-m", "uv", "pip", "install", "--quiet", "--python", env_python,
         "--override", str(OVERRIDES), "-e", ".[syft-flwr]"],
    ]  # fmt: skip


def _stamp(python: str) -> str:
    """Over what the environment depends on: sealpack is installed editable, so only its
    dependencies, the syft-flwr extra, the override file and the interpreter count."""
    text = (REPO / "pyproject.toml").read_text()
    runtime = re.search(r"(?ms)^dependencies = \[.*?^\]", text)
    extra = re.findall(r"(?m)^syft-flwr = .*$", text)
    digest = hashlib.sha256(RECIPE_VERSION.encode())
    for part in (python, runtime.group(0) if runtime else "", repr(extra), OVERRIDES.read_text()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def ensure_env(python: str) -> Path:
    """The environment's interpreter, building the environment first if needed.

    Raises:
        RuntimeError: A recipe command failed (its output is in the message).
    """
    ENV_DIR.parent.mkdir(exist_ok=True)
    stamp_file = ENV_DIR / ".sealpack-stamp"
    with open(REPO / ".venv-syft312.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = _stamp(python)
        if stamp_file.exists() and stamp_file.read_text() == stamp:
            return ENV_DIR / "bin" / "python"
        shutil.rmtree(ENV_DIR, ignore_errors=True)
        for command in recipe(python):
            done = subprocess.run(
                command, cwd=REPO, capture_output=True, text=True, timeout=900, check=False
            )
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-3000:]
                raise RuntimeError(f"{' '.join(command)} failed:\n{tail}")
        stamp_file.write_text(stamp)
    return ENV_DIR / "bin" / "python"
