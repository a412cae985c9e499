"""The package as a user gets it: a wheel and an sdist built, the wheel installed into a
fresh virtual environment, and the quick start and the command line run from there.

A module or package-data file missing from the wheel fails here, not at a user's site.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import sealpack

ROOT = Path(__file__).resolve().parents[1]

QUICK_START = """
import numpy as np
import sealpack

alice = sealpack.Identity.generate("alice")
bob = sealpack.Identity.generate("bob")
model = {"layer1": np.ones((256, 256), dtype=np.float32), "round": 3}
blob = sealpack.seal(model, sender=alice, recipients=[bob.bundle()], metadata={"round": 3})
opened = sealpack.unseal(blob, recipient=bob, senders=[alice.bundle()])
assert np.array_equal(opened["layer1"], model["layer1"]) and opened["round"] == 3
assert sealpack.__file__.startswith(%r), sealpack.__file__
print("quick start ok")
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheels = list(out.glob("sealpack-*.whl"))
    sdists = list(out.glob("sealpack-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0], "dir": out}


def test_versions_agree_in_one_place(built: dict[str, Path]) -> None:
    assert built["wheel"].name.startswith(f"sealpack-{sealpack.__version__}-")
    assert built["sdist"].name == f"sealpack-{sealpack.__version__}.tar.gz"


def test_wheel_holds_every_module_and_the_type_marker(built: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    source = ROOT / "src"
    expected = {str(p.relative_to(source)) for p in (source / "sealpack").rglob("*.py")}
    assert expected <= names, sorted(expected - names)
    assert "sealpack/py.typed" in names


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_environment(
    built: dict[str, Path], tmp_path: Path
) -> None:
    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(built["wheel"]),
        ],
        check=True,
        env=clean_env,
        capture_output=True,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env,
    ).stdout.strip()
    ran = subprocess.run(
        [str(python), "-c", QUICK_START % site],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "quick start ok" in ran.stdout
    version = subprocess.run(
        [str(env_dir / "bin" / "sealpack"), "--version"],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=tmp_path,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"sealpack {sealpack.__version__}"
