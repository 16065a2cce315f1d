"""A movie written by `atomvae simulate` opens with plain h5py and numpy."""

import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

BIN = os.environ.get("ATOMVAE_BIN", str(Path(__file__).resolve().parents[2] / "target/release/atomvae"))


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "movie.h5"
    args = [BIN, "-q", "simulate", "--frames", "3", "--size", "256", "200", "--seed", "5", "--out", str(out)]
    subprocess.run(args, check=True)
    return out


def test_h5py_reads_frames_truth_and_provenance(movie):
    with h5py.File(movie, "r") as f:
        assert f.attrs["schema_version"] == 1
        assert f.attrs["pixel_size_angstrom"] == pytest.approx(0.104)
        assert json.loads(f.attrs["class_names"]) == ["background", "C", "Si"]
        frames = f["frames"][()]
        assert frames.shape == (3, 256, 200) and frames.dtype == np.float32
        assert f["frames"].chunks == (1, 256, 200)
        labels = f["truth/labels"][()]
        atoms = {k: f["truth/atoms"][k][()] for k in ("frame", "y", "x", "class", "z")}
        params = json.loads(f["provenance"].attrs["parameters"])
        assert f["provenance"].attrs["seed"] == 5
    assert params["movie"]["frames"] == 3
    assert params["simulation"]["pixel_size"] == pytest.approx(0.104)
    assert set(np.unique(atoms["frame"])) == {0, 1, 2}
    assert set(np.unique(atoms["class"])) <= {1, 2}
    assert np.all((atoms["z"] == 14) == (atoms["class"] == 2))
    # Every true atom sits on a pixel of its own class and on a bright spot.
    f0 = atoms["frame"] == 0
    r = np.rint(atoms["y"][f0]).astype(int)
    c = np.rint(atoms["x"][f0]).astype(int)
    assert np.all(labels[0, r, c] == atoms["class"][f0])
    assert frames[0, r, c].mean() > 2 * frames[0][labels[0] == 0].mean()


def test_npy_output_loads_with_numpy(tmp_path):
    out = tmp_path / "movie.npy"
    subprocess.run(
        [BIN, "-q", "simulate", "--frames", "2", "--size", "128", "128", "--holes", "0", "--out", str(out)], check=True
    )
    arr = np.load(out)
    assert arr.shape == (2, 128, 128) and arr.dtype == np.float32
    meta = json.loads((tmp_path / "movie.meta.json").read_text())
    assert meta["pixel_size"] == pytest.approx(0.104)
    table = np.genfromtxt(tmp_path / "movie.atoms.csv", delimiter=",", names=True)
    assert len(table) > 100 and set(np.unique(table["frame"])) == {0, 1}
