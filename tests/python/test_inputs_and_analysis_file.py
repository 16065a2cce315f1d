"""`atomvae import` reads what microscopists' tools write (numpy, tifffile, h5py)
and writes an analysis file that plain h5py understands."""

import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

BIN = os.environ.get("ATOMVAE_BIN", str(Path(__file__).resolve().parents[2] / "target/release/atomvae"))


def run(*args, ok=True):
    proc = subprocess.run([BIN, "-q", *map(str, args)], capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def frames_of(path):
    with h5py.File(path, "r") as f:
        return f["frames"][()]


def stack(dtype, shape=(3, 20, 24)):
    rng = np.random.default_rng(0)
    return (rng.random(shape) * 200).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "uint16", "int16", ">f4", ">u2"])
def test_npy_of_every_supported_dtype(tmp_path, dtype):
    arr = stack(dtype)
    np.save(tmp_path / "m.npy", arr)
    run("import", tmp_path / "m.npy", "-o", tmp_path / "a.h5", "--pixel-size", "0.1")
    np.testing.assert_array_equal(frames_of(tmp_path / "a.h5"), arr.astype(np.float32))


def test_a_single_2d_frame_becomes_a_one_frame_stack(tmp_path):
    arr = stack("float32", (30, 31))
    np.save(tmp_path / "f.npy", arr)
    run("import", tmp_path / "f.npy", "-o", tmp_path / "a.h5", "--pixel-size", "0.1")
    np.testing.assert_array_equal(frames_of(tmp_path / "a.h5"), arr[None])


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_stacks(tmp_path, dtype):
    arr = stack(dtype)
    tifffile.imwrite(tmp_path / "m.tif", arr, photometric="minisblack")
    run("import", tmp_path / "m.tif", "-o", tmp_path / "a.h5", "--pixel-size", "0.1")
    np.testing.assert_array_equal(frames_of(tmp_path / "a.h5"), arr.astype(np.float32))


def test_imagej_tiff_gives_its_pixel_size(tmp_path):
    arr = stack("uint16")
    # 0.0125 nm/px = 0.125 Å/px, as ImageJ records it: pixels per unit in XResolution.
    tifffile.imwrite(tmp_path / "m.tif", arr, imagej=True, resolution=(80.0, 80.0), metadata={"unit": "nm"})
    run("import", tmp_path / "m.tif", "-o", tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert f.attrs["pixel_size_angstrom"] == pytest.approx(0.125)


def test_hdf5_dataset_by_path(tmp_path):
    arr = stack("float32")
    with h5py.File(tmp_path / "in.h5", "w") as f:
        f.create_dataset("data/images", data=arr)
    proc = run("import", tmp_path / "in.h5", "-o", tmp_path / "a.h5", "--pixel-size", "0.1", ok=False)
    assert proc.returncode == 1 and "--dataset" in proc.stderr
    run("import", tmp_path / "in.h5", "--dataset", "/data/images", "-o", tmp_path / "a.h5", "--pixel-size", "0.1")
    np.testing.assert_array_equal(frames_of(tmp_path / "a.h5"), arr)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3, 4, 5), np.float32), "expected a frame (H, W) or a stack (frames, H, W)"),
        (np.zeros((0, 8, 8), np.float32), "empty stack"),
        (np.zeros((2, 8), np.complex64), "unsupported .npy dtype"),
    ],
)
def test_bad_arrays_get_clear_errors(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    proc = run("import", tmp_path / "bad.npy", "-o", tmp_path / "a.h5", "--pixel-size", "0.1", ok=False)
    assert proc.returncode == 1
    assert message in proc.stderr and "bad.npy" in proc.stderr
    assert "panicked" not in proc.stderr
    assert not (tmp_path / "a.h5").exists()


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "t.npy", stack("float32"))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) // 2])
    proc = run("import", tmp_path / "t.npy", "-o", tmp_path / "a.h5", "--pixel-size", "0.1", ok=False)
    assert "truncated .npy file" in proc.stderr


def test_the_analysis_file_is_readable_with_plain_h5py(tmp_path):
    movie = tmp_path / "movie.h5"
    run("simulate", "--frames", "2", "--size", "96", "80", "--holes", "0", "--seed", "4", "--out", movie)
    run("import", movie, "-o", tmp_path / "analysis.h5", "--seed", "3")
    with h5py.File(tmp_path / "analysis.h5", "r") as f:
        assert f.attrs["format"] == "atomvae-analysis"
        assert f.attrs["schema_version"] == 1
        assert f.attrs["pixel_size_angstrom"] == pytest.approx(0.104)
        assert json.loads(f.attrs["class_names"]) == ["background", "C", "Si"]
        assert f["frames"].shape == (2, 96, 80) and f["frames"].chunks == (1, 96, 80)
        assert f["frames"].compression == "gzip"
        step = f["provenance/import"].attrs
        assert json.loads(step["parameters"])["pixel_size"] == pytest.approx(0.104)
        assert step["seed"] == 3 and step["device"] == "cpu"
        assert step["started"] <= step["finished"]
        assert step["software"].startswith("atomvae ")
        assert len(f["provenance"].attrs["git_commit"]) > 0
        with h5py.File(movie, "r") as m:
            np.testing.assert_array_equal(f["frames"][()], m["frames"][()])


def test_colour_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", stack("uint8", (20, 24, 3)), photometric="rgb")
    proc = run("import", tmp_path / "rgb.tif", "-o", tmp_path / "a.h5", "--pixel-size", "0.1", ok=False)
    assert proc.returncode == 1 and "single-channel" in proc.stderr
