"""Test setup: the fake DigitalMicrograph module, the atomvae package (installed,
or the source tree's in dev mode), simulator frames and the CLI's atoms."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent
ROOT = PLUGIN.parents[1]
sys.path[:0] = [str(HERE), str(PLUGIN)]

# Dev mode (README): without an installed atomvae, use the source tree's package and
# library; the environment variables also reach the out-of-process worker.
if importlib.util.find_spec("atomvae") is None and "ATOMVAE_LIBRARY" not in os.environ:
    os.environ["ATOMVAE_LIBRARY"] = str(ROOT / "target" / "release" / "libatomvae.so")
    os.environ["ATOMVAE_HEADER"] = str(ROOT / "include" / "atomvae.h")
    sys.path.insert(0, str(ROOT / "plugin" / "python"))

import atomvae  # noqa: E402
import fake_dm  # noqa: E402

PIXEL_SIZE = 0.2  # Å/px
ATOMS = {"threshold": 0.5, "border": 4.0}
CLI = Path(os.environ.get("ATOMVAE_CLI") or os.environ.get("ATOMVAE_BIN") or ROOT / "target" / "release" / "atomvae")
# Small and fast (2 cores): still every step of the pipeline.
FAST = {
    "atoms": ATOMS,
    "training": {"epochs": 1, "kl_warmup_epochs": 0, "holdout_fraction": 0},
    "rvae": {"hidden": 32},
    "analysis": {
        "baseline_epochs": 1,
        "baseline_windows": 50,
        "gmm_max_components": 2,
        "gmm": {"restarts": 1},
        "ssim_rotations": 4,
        "ssim_grid": 2,
        "manifold_size": 4,
    },
}


@pytest.fixture(scope="session")
def frames(tmp_path_factory):
    """Two simulated 128 × 128 frames of Si-doped graphene at 0.2 Å/px."""
    path = tmp_path_factory.mktemp("movie") / "movie.h5"
    movie = atomvae.simulate_movie(path, frames=2, height=128, width=128, pixel_size=PIXEL_SIZE, seed=3)
    return np.ascontiguousarray(movie.frames, dtype=np.float32)


@pytest.fixture(scope="session")
def cli_result(frames, tmp_path_factory):
    """The same frames through the CLI: import, segment, atoms (same threshold and border)."""
    if not CLI.exists():
        pytest.skip(f"no atomvae CLI at {CLI} (set ATOMVAE_CLI)")
    folder = tmp_path_factory.mktemp("cli")
    np.save(folder / "frames.npy", frames)
    out = folder / "cli.h5"
    for arguments in (
        ["import", str(folder / "frames.npy"), "--pixel-size", str(PIXEL_SIZE), "--out", str(out)],
        ["segment", str(out)],
        ["atoms", str(out), "--threshold", str(ATOMS["threshold"]), "--border", str(ATOMS["border"])],
    ):
        subprocess.run([str(CLI), "-q", *arguments], check=True)
    file = atomvae.AnalysisFile(out)
    return file.probabilities, file.atoms


@pytest.fixture
def dm(monkeypatch, tmp_path):
    """A fresh fake DigitalMicrograph; outputs into tmp_path; the out-of-process
    mode's separate Python is this Python."""
    module = fake_dm.install()
    monkeypatch.setenv("ATOMVAE_DM_OUTPUT", str(tmp_path))
    monkeypatch.setenv("ATOMVAE_DM_PYTHON", sys.executable)
    # The worker does not inherit PYTHONPATH (GMS's own); it gets this one.
    monkeypatch.setenv("ATOMVAE_DM_PYTHONPATH", str(Path(atomvae.__file__).parents[1]))
    for name in ("ATOMVAE_DM_MODE", "ATOMVAE_DM_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    return module
