"""Fixtures of the atomvae package's tests: a small simulated movie and the CLI
built from the same sources (to compare Python's results with it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import atomvae

REPO = Path(__file__).resolve().parents[3]
PIXEL_SIZE = 0.2


@pytest.fixture(scope="session")
def movie_path(tmp_path_factory) -> Path:
    """3 frames of 160² px of simulated Si-doped graphene at 0.2 Å/px (an analysis file)."""
    path = tmp_path_factory.mktemp("movie") / "movie.h5"
    atomvae.simulate_movie(path, frames=3, height=160, width=160, pixel_size=PIXEL_SIZE, seed=7)
    return path


@pytest.fixture(scope="session")
def frames(movie_path) -> np.ndarray:
    return atomvae.AnalysisFile(movie_path).frames.copy()


@pytest.fixture(scope="session")
def segmenter() -> atomvae.Segmenter:
    return atomvae.Segmenter(device="cpu")


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `atomvae` command line built from this checkout."""
    path = Path(os.environ.get("ATOMVAE_BIN", REPO / "target" / "release" / "atomvae"))
    assert path.is_file(), f"build the CLI first (cargo build --release): {path}"
    return path


@pytest.fixture(scope="session")
def windows(frames, segmenter) -> np.ndarray:
    """30 px windows (6 Å) around the carbon atoms of the first frame, cut from the frame."""
    p = segmenter.segment(frames[0], PIXEL_SIZE)
    atoms = atomvae.find_atoms(p, PIXEL_SIZE, border=16)
    carbon = atoms[atoms["class"] == 1]
    return atomvae.cut_windows(frames[0], carbon, window=30, bilinear=True)


@pytest.fixture(scope="session")
def rvae(windows) -> atomvae.Rvae:
    return atomvae.Rvae.train(windows, training={"epochs": 3, "seed": 5}, device="cpu")
