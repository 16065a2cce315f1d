"""Every public function of the package on real computations, checked against the
CLI (the same library through another door) and against its own contracts."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import PIXEL_SIZE

import atomvae


def cli_atoms(cli, movie_path, tmp_path, border: float, threshold: float) -> np.ndarray:
    out = tmp_path / "cli.h5"
    run = lambda *args: subprocess.run([str(cli), *map(str, args)], check=True, capture_output=True)  # noqa: E731
    run("import", movie_path, "-o", out)
    run("segment", out, "--device", "cpu")
    run("atoms", out, "--border", border, "--threshold", threshold)
    return atomvae.AnalysisFile(out).atoms


def test_same_atoms_through_python_as_through_the_cli(cli, movie_path, frames, segmenter, tmp_path):
    expected = cli_atoms(cli, movie_path, tmp_path, border=8, threshold=0.5)
    probabilities = segmenter.segment(frames, PIXEL_SIZE)
    found = atomvae.find_atoms(probabilities, PIXEL_SIZE, threshold=0.5, border=8, frames=frames)
    assert len(found) > 300
    assert found.dtype == atomvae.ATOM_DTYPE
    for field in ("frame", "class"):
        np.testing.assert_array_equal(found[field], expected[field])
    for field in ("y", "x", "confidence"):
        np.testing.assert_allclose(found[field], expected[field], atol=1e-5)
    # One frame alone gives that frame's atoms, numbered as frame 0.
    single = atomvae.find_atoms(probabilities[1], PIXEL_SIZE, border=8)
    np.testing.assert_array_equal(single["x"], found[found["frame"] == 1]["x"])
    assert set(single["frame"]) == {0}


def test_with_its_frames_a_si_must_be_brighter_than_the_carbon_around_it(frames, segmenter):
    probabilities = segmenter.segment(frames[0], PIXEL_SIZE)
    trusted = atomvae.find_atoms(probabilities, PIXEL_SIZE, border=8)
    checked = atomvae.find_atoms(probabilities, PIXEL_SIZE, border=8, frames=frames[0])
    assert (trusted["class"] == 2).sum() >= 1
    np.testing.assert_array_equal(checked["class"], trusted["class"])  # the true Si pass
    # A network with its C and Si swapped calls the carbon Si: the check turns it back.
    swapped = probabilities[[0, 2, 1]]
    wrong = atomvae.find_atoms(swapped, PIXEL_SIZE, border=8)
    assert (wrong["class"] == 2).mean() > 0.9
    fixed = atomvae.find_atoms(swapped, PIXEL_SIZE, border=8, frames=frames[0])
    assert (fixed["class"] == 1).mean() > 0.99
    unchecked = atomvae.find_atoms(swapped, PIXEL_SIZE, border=8, frames=frames[0], si_min_ratio=0.0)
    np.testing.assert_array_equal(unchecked["class"], wrong["class"])
    with pytest.raises(atomvae.InvalidArgument):
        atomvae.find_atoms(probabilities, PIXEL_SIZE, frames=frames[:2])


def test_segmentation_accepts_any_real_dtype_and_order(frames, segmenter):
    frame = frames[0]
    reference = segmenter.segment(frame, PIXEL_SIZE)
    assert reference.shape == (3, *frame.shape)
    np.testing.assert_allclose(reference.sum(axis=0), 1.0, atol=1e-4)
    as_f64_fortran = np.asfortranarray(frame.astype(np.float64))
    np.testing.assert_allclose(segmenter.segment(as_f64_fortran, PIXEL_SIZE), reference, atol=1e-5)
    scaled = np.round(frame / frame.max() * 60000).astype(np.uint16)
    assert segmenter.segment(scaled, PIXEL_SIZE).shape == reference.shape
    assert segmenter.class_names == ["background", "C", "Si"]
    stack = segmenter.segment(frames[:2], PIXEL_SIZE)
    np.testing.assert_allclose(stack[0], reference, atol=1e-6)


def test_the_carbon_lattice_is_found_where_the_simulator_put_it(movie_path, frames, segmenter):
    truth = atomvae.AnalysisFile(movie_path)
    true_y, true_x, true_frame = (truth.read(f"/truth/atoms/{k}") for k in ("y", "x", "frame"))
    found = atomvae.find_atoms(segmenter.segment(frames[0], PIXEL_SIZE), PIXEL_SIZE, border=10)
    ty, tx = true_y[true_frame == 0], true_x[true_frame == 0]
    distance = np.hypot(found["y"][:, None] - ty[None], found["x"][:, None] - tx[None]).min(axis=1)
    assert np.median(distance) < 0.5, "atoms within half a pixel (0.1 Å) of the truth"


def test_cut_windows_centres_each_window_on_its_atom():
    image = np.zeros((40, 40), np.float32)
    image[20, 10] = 1.0
    cut = atomvae.cut_windows(image, np.array([[20.0, 10.0], [3.0, 3.0]]), window=9)
    assert cut.shape == (2, 9, 9)
    assert cut[0, 4, 4] == 1.0 and cut[0].sum() == 1.0
    assert cut[1].sum() == 0.0, "the edge is completed with zeros"


def test_rvae_encode_decode_round_trip(rvae, windows):
    assert rvae.window == 30
    assert rvae.latent_columns[:3] == ["angle", "dx", "dy"] and len(rvae.latent_columns) == 5
    mean, logvar = rvae.encode(windows)
    assert mean.shape == logvar.shape == (len(windows), 5)
    assert np.isfinite(mean).all() and np.isfinite(logvar).all()
    decoded = rvae.decode(mean, pose=True)
    assert decoded.shape == windows.shape
    # Reconstructions resemble their own windows more than other windows.
    own = np.mean((decoded - windows) ** 2)
    shuffled = np.mean((decoded - windows[::-1]) ** 2)
    assert own < shuffled
    content_only = rvae.decode(mean[:, 3:])
    np.testing.assert_allclose(content_only, rvae.decode(mean, pose=False), atol=1e-5)
    assert rvae.manifold(4).shape == (4, 4, 30, 30)
    assert rvae.training is not None and len(rvae.training["epochs"]) == 3
    assert rvae.config["disc"] is True, "the recipe preset is the default"


def test_rvae_save_and_load_give_identical_encodings(rvae, windows, tmp_path):
    path = tmp_path / "rvae.h5"
    rvae.save(path)
    loaded = atomvae.Rvae.load(path, device="cpu")
    np.testing.assert_array_equal(loaded.encode(windows)[0], rvae.encode(windows)[0])
    assert loaded.training is None


def test_equal_seeds_give_equal_models(windows):
    a = atomvae.Rvae.train(windows[:200], training={"epochs": 1, "seed": 3}, device="cpu")
    b = atomvae.Rvae.train(windows[:200], training={"epochs": 1, "seed": 3}, device="cpu")
    np.testing.assert_array_equal(a.encode(windows[:50])[0], b.encode(windows[:50])[0])


def test_a_cancelled_training_raises_cancelled_and_makes_nothing(windows):
    calls = []

    def stop_after_two(fraction, phase):
        calls.append((fraction, phase))
        return len(calls) < 2

    with pytest.raises(atomvae.Cancelled):
        atomvae.Rvae.train(windows, training={"epochs": 50}, device="cpu", progress=stop_after_two)
    assert len(calls) == 2


def test_an_exception_in_the_progress_callback_cancels_and_is_raised(frames, segmenter):
    def broken(fraction, phase):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        segmenter.segment(frames, PIXEL_SIZE, progress=broken)


def test_progress_reports_fractions_and_phases(frames, segmenter):
    seen = []
    segmenter.segment(frames, PIXEL_SIZE, progress=lambda f, phase: seen.append((f, phase)))
    assert seen[0] == (0.0, "segment") and seen[-1] == (1.0, "segment")
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)


def test_bad_inputs_raise_the_right_exception_with_the_library_message(frames, segmenter, tmp_path):
    with pytest.raises(atomvae.InvalidArgument, match="frames must be 2-D or 3-D"):
        segmenter.segment(frames[None], PIXEL_SIZE)
    with pytest.raises(atomvae.InvalidArgument, match="real numbers"):
        segmenter.segment(frames[0].astype(np.complex64), PIXEL_SIZE)
    with pytest.raises(atomvae.InvalidArgument, match="pixel_size is unknown"):
        segmenter.segment(frames[0], None)
    nan_frame = frames[0].copy()
    nan_frame[3, 3] = np.nan
    with pytest.raises(atomvae.InvalidArgument, match="NaN"):
        segmenter.segment(nan_frame, PIXEL_SIZE)
    with pytest.raises(atomvae.InvalidArgument, match="pixel size"):
        segmenter.segment(frames[0], 1e-9)
    with pytest.raises(atomvae.FileError):
        atomvae.Segmenter(tmp_path / "missing.h5")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(atomvae.BadModel):
        atomvae.Segmenter(junk)
    with pytest.raises(atomvae.InvalidArgument, match="unknown field"):
        atomvae.Rvae.train(np.random.rand(20, 16, 16), training={"epoch": 3})
    with pytest.raises(atomvae.InvalidArgument, match="no preset"):
        atomvae.settings("fastest")
    with pytest.raises(atomvae.InvalidArgument, match="device"):
        atomvae.Segmenter(device="tpu")
    with pytest.raises(atomvae.DeviceUnavailable if not atomvae.cuda_available() else AssertionError):
        atomvae.Segmenter(device="cuda")
        raise AssertionError("CUDA is available here")
    with pytest.raises(atomvae.FileError, match="not an HDF5 file"):
        atomvae.AnalysisFile(junk)
    closed = atomvae.Segmenter()
    closed.close()
    with pytest.raises(atomvae.InvalidArgument, match="closed"):
        closed.segment(frames[0], PIXEL_SIZE)


def test_settings_presets_differ_where_the_recipe_says():
    recipe, paper = atomvae.settings("recipe"), atomvae.settings("paper")
    assert recipe["windows"]["size_angstrom"] == paper["windows"]["size_angstrom"] == 4.0
    assert recipe["training"]["kl_warmup_weight"] == 0.1 and recipe["training"]["early_stop_patience"] == 10
    assert recipe["rvae"]["disc"] and not paper["rvae"]["disc"]
    assert set(recipe) == {"atoms", "windows", "rvae", "training", "analysis"}


def test_the_whole_pipeline_step_by_step_on_frames_in_memory(frames, tmp_path):
    path = tmp_path / "session.h5"
    f = atomvae.AnalysisFile.create(path, frames[:2], PIXEL_SIZE)
    assert f.shape == (2, 160, 160) and f.pixel_size == PIXEL_SIZE and f.atoms is None
    np.testing.assert_array_equal(f.frames, frames[:2])
    with pytest.raises(atomvae.InvalidArgument, match="run `segment` first"):
        f.run("atoms")
    phases = []
    quick = {"training": {"epochs": 2}, "analysis": {"baseline_epochs": 1, "baseline_windows": 200}}
    for step in atomvae.STEPS:
        f.run(step, settings=quick, progress=lambda fraction, phase: phases.append(phase))
    assert {"segment", "atoms", "subimages"} <= set(phases)
    assert f.probabilities.shape == (2, 3, 160, 160)
    latents = f.latents
    assert latents["columns"] == ["angle", "dx", "dy", "z1", "z2"]
    assert len(latents["angle"]) == len(f.windows) == len(f.window_atoms["atom_index"])
    analysis = f.analysis
    assert analysis["histograms"]["z1"].shape[0] == 2
    assert analysis["rvae"]["manifold"].ndim == 4
    assert f.provenance["train-rvae"]["parameters"]["training"]["epochs"] == 2
    # Re-running an earlier step removes the results that no longer follow from it.
    f.run("atoms", settings={"atoms": {"threshold": 0.6}})
    assert f.latents is None and f.windows is None and f.atoms is not None
    reopened = atomvae.AnalysisFile(path)
    assert reopened.provenance["atoms"]["parameters"]["threshold"] == pytest.approx(0.6)


def test_a_cancelled_step_leaves_the_file_as_it_was(movie_path, tmp_path):
    path = tmp_path / "copy.h5"
    path.write_bytes(movie_path.read_bytes())
    f = atomvae.AnalysisFile(path)
    before = path.read_bytes()
    with pytest.raises(atomvae.Cancelled):
        f.run("segment", progress=lambda fraction, phase: fraction < 0.3)
    assert path.read_bytes() == before
    assert f.probabilities is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".copy.h5.tmp")], "no temporary file left"


def test_analyze_a_movie_file_into_an_analysis_file(movie_path, tmp_path):
    out = tmp_path / "analysis.h5"
    quick = {"training": {"epochs": 2}, "analysis": {"baseline_epochs": 1, "baseline_windows": 200}}
    f = atomvae.analyze(movie_path, out, settings=quick)
    assert f.latents is not None and f.analysis is not None and out.is_file()
    assert set(f.provenance) >= {"import", "segment", "atoms", "subimages", "train-rvae", "encode", "analysis"}
    with pytest.raises(atomvae.InvalidArgument, match="pixel size"):
        atomvae.analyze(np.zeros((1, 64, 64)), tmp_path / "x.h5")


def test_reading_every_dataset_of_an_analysis_file(movie_path):
    f = atomvae.AnalysisFile(movie_path)
    assert "/frames" in f.datasets and "/truth/atoms/class" in f.datasets
    for path in f.datasets:
        array = f.read(path)
        described = next(d for d in f.contents["datasets"] if d["path"] == path)
        assert list(array.shape) == described["shape"]
    assert f.attributes("/")["class_names"] == ["background", "C", "Si"]
    assert f.provenance["simulate"]["seed"] == 7
    with pytest.raises(atomvae.InvalidArgument, match="no dataset"):
        f.read("/nothing/here")


def test_import_a_movie_file_and_ask_its_pixel_size(frames, tmp_path):
    npy = tmp_path / "movie.npy"
    np.save(npy, frames[:2].astype(np.float64))
    info = atomvae.movie_info(npy)
    assert info == {"shape": (2, 160, 160), "pixel_size": None}, "a bare .npy states no pixel size"
    with pytest.raises(atomvae.InvalidArgument, match="does not guess"):
        atomvae.import_movie(npy, tmp_path / "a.h5")
    f = atomvae.import_movie(npy, tmp_path / "a.h5", pixel_size=PIXEL_SIZE, progress=lambda f, p: True)
    assert f.pixel_size == PIXEL_SIZE and f.shape == (2, 160, 160)
    np.testing.assert_allclose(f.frames, frames[:2])
    f.run("segment")
    assert set(f.analysis or {}) == set() and f.probabilities.shape == (2, 3, 160, 160)
    h5 = atomvae.movie_info(tmp_path / "a.h5")
    assert h5["pixel_size"] == PIXEL_SIZE
    with pytest.raises(atomvae.FileError):
        atomvae.movie_info(tmp_path / "missing.tif")


def test_large_arrays_live_in_part_files_that_copy_and_rename_carry(movie_path, tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "a" / "movie.h5"
    path.parent.mkdir()
    f = atomvae.import_movie(movie_path, path)
    f.run("segment")
    f.run("atoms")
    parts = sorted(p.name.split("-")[0] for p in (tmp_path / "a" / "movie.h5.parts").iterdir())
    assert parts == ["frames", "probabilities"]
    # A plain h5py open from another working folder sees one tree (external links).
    monkeypatch.chdir(tmp_path)
    with h5py.File(path, "r") as plain:
        np.testing.assert_array_equal(plain["probabilities"][0], f.probabilities[0])
        assert set(json.loads(plain.attrs["parts"])) == {"frames", "probabilities"}

    (tmp_path / "b").mkdir()
    copy = f.copy(tmp_path / "b" / "copy.h5")
    np.testing.assert_array_equal(copy.probabilities, f.probabilities)
    np.testing.assert_array_equal(copy.atoms, f.atoms)
    copy.close()
    # Re-running the original's segmentation deletes its old part, not the copy's.
    f.run("segment")
    assert atomvae.AnalysisFile(tmp_path / "b" / "copy.h5").probabilities is not None

    # An attempt published over the copy with its parts; the copy's old parts go.
    attempt = tmp_path / "b" / ".attempt.h5"
    f.copy(attempt).close()
    f.close()
    atomvae.rename_analysis(attempt, tmp_path / "b" / "copy.h5")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["copy.h5", "copy.h5.parts"]
    assert len(list((tmp_path / "b" / "copy.h5.parts").iterdir())) == 2
    with atomvae.AnalysisFile(tmp_path / "b" / "copy.h5") as published:
        assert published.atoms is None and published.probabilities is not None
