"""The DigitalMicrograph scripts end to end on the fake DM, in both modes: the
images they create (shapes, calibrations, names, tags), the CSV, and the same
atoms and probabilities as the atomvae CLI."""

import ast
import csv
import json
import runpy

import fake_dm
import numpy as np
import pytest
from conftest import ATOMS, FAST, PIXEL_SIZE, PLUGIN

MODES = ("in-process", "out-of-process")
SCRIPTS = PLUGIN / "scripts"


def run_script(name, mode, settings):
    """Runs a menu command's script as DM would, with mode and settings in DM's
    persistent tags (where a user puts them)."""
    tags = fake_dm.state.persistent
    tags.SetTagAsString("atomvae:Mode", mode)
    tags.SetTagAsString("atomvae:Settings", json.dumps(settings))
    runpy.run_path(str(SCRIPTS / name), run_name="__main__")
    return {image.GetName(): image for image in fake_dm.state.shown}


def check_ran_off_thread(state):
    assert state.off_thread == [], "DM was called from the worker thread"
    assert state.doevents > 0, "DM's events were not pumped while the work ran"
    assert state.progress and state.progress[0][0].startswith("atomvae:")
    assert state.progress_closed >= 1


@pytest.mark.parametrize("mode", MODES)
def test_find_atoms_matches_the_cli(dm, frames, cli_result, mode, tmp_path):
    source = fake_dm.source_image(frames, 0.02, "nm", name="graphene", z=(0.0, 0.5, "s"))
    before = source.GetNumArray().copy()
    shown = run_script("atomvae_find_atoms.py", mode, {"atoms": ATOMS})
    state = fake_dm.state
    assert state.dialogs == []
    check_ran_off_thread(state)
    assert sorted(shown) == ["graphene - atoms", "graphene - p(C)", "graphene - p(Si)"]
    for image in shown.values():
        assert image.GetNumArray().shape == frames.shape  # DM 128×128×2
        assert image._calibrations == [(0.0, 0.02, "nm"), (0.0, 0.02, "nm"), (0.0, 0.5, "s")]
        found, value = image.GetTagGroup().GetTagAsString("atomvae:Mode")
        assert found and value == mode
    np.testing.assert_array_equal(source.GetNumArray(), before)  # the source is read, never written

    probabilities, atoms = cli_result
    np.testing.assert_allclose(shown["graphene - p(C)"].GetNumArray(), probabilities[:, 1], atol=1e-6)
    np.testing.assert_allclose(shown["graphene - p(Si)"].GetNumArray(), probabilities[:, 2], atol=1e-6)

    with open(tmp_path / "graphene_atoms.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(atoms) > 50
    np.testing.assert_array_equal([int(r["frame"]) for r in rows], atoms["frame"])
    np.testing.assert_array_equal([int(r["class"]) for r in rows], atoms["class"])
    np.testing.assert_allclose([float(r["y_px"]) for r in rows], atoms["y"], atol=6e-4)
    np.testing.assert_allclose([float(r["x_nm"]) for r in rows], atoms["x"] * 0.02, rtol=1e-4, atol=1e-5)
    assert {r["class_name"] for r in rows} <= {"C", "Si"}

    for image in (source, shown["graphene - atoms"]):
        tags = image.GetTagGroup()
        assert tags.GetTagAsFloat("atomvae:Atoms:Count") == (True, float(len(atoms)))
        found, column = tags.GetTagAsString("atomvae:Atoms:Column:x_px")
        assert found and np.allclose(np.array(column.split(","), float), atoms["x"], atol=6e-4)
        assert tags.GetTagAsString("atomvae:Atoms:CSV") == (True, str(tmp_path / "graphene_atoms.csv"))
    labels = shown["graphene - atoms"].GetNumArray()
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1, 2}
    first = atoms[0]
    assert labels[first["frame"], round(float(first["y"])), round(float(first["x"]))] == first["class"]
    assert (tmp_path / "graphene_atomvae_atoms.h5").exists()


def test_find_atoms_on_one_frame_in_angstrom_beside_its_file(dm, frames, tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    source = fake_dm.source_image(frames[0], PIXEL_SIZE, b"\xc5", name="frame 1")  # Å, as DM may hand it over
    source._file = str(folder / "frame1.dm4")
    shown = run_script("atomvae_find_atoms.py", "in-process", {"atoms": ATOMS})
    assert fake_dm.state.dialogs == []
    assert sorted(shown) == ["frame 1 - atoms", "frame 1 - p(C)", "frame 1 - p(Si)"]
    for image in shown.values():
        assert image.GetNumArray().shape == frames.shape[1:]
        assert image._calibrations == [(0.0, PIXEL_SIZE, "Å"), (0.0, PIXEL_SIZE, "Å")]
    assert (folder / "frame1_atoms.csv").exists() and (folder / "frame1_atomvae_atoms.h5").exists()


@pytest.mark.parametrize(
    ("scale", "unit", "expected"),
    [(1.0, "", "not calibrated in lengths"), (0.5, "1/nm", "not calibrated in lengths"), (0.02, "nm", None)],
)
def test_uncalibrated_images_are_refused(dm, frames, scale, unit, expected):
    source = fake_dm.source_image(frames[0], scale, unit)
    if expected is None:  # non-square pixels
        source._calibrations[1] = (0.0, 0.03, "nm")
        expected = "non-square pixels"
    assert run_script("atomvae_find_atoms.py", "in-process", {}) == {}
    assert len(fake_dm.state.dialogs) == 1 and expected in fake_dm.state.dialogs[0]
    assert fake_dm.state.created == []


def test_no_image_is_refused(dm):
    assert run_script("atomvae_order_parameters.py", "in-process", {}) == {}
    assert "open an image" in fake_dm.state.dialogs[0]


def test_order_parameters_same_in_both_modes(dm, frames):
    results = {}
    for mode in MODES:
        fake_dm.install()
        source = fake_dm.source_image(frames, 0.2, "Å", name="stack", z=(0.0, 1.0, "frame"))
        shown = run_script("atomvae_order_parameters.py", mode, FAST)
        assert fake_dm.state.dialogs == []
        check_ran_off_thread(fake_dm.state)
        found, windows = source.GetTagGroup().GetTagAsFloat("atomvae:rVAE:Windows")
        assert found and windows > 10
        results[mode] = shown
    names = sorted(results["in-process"])
    assert names == sorted(results["out-of-process"])
    expected = [
        f"stack - {latent} {kind}" for latent in ("angle", "z1") for kind in ("histogram", "histogram per frame", "map")
    ]
    assert names == sorted([*expected, "stack - rVAE manifold"])
    shown = results["in-process"]
    angle = shown["stack - angle map"]
    maps = angle.GetNumArray()
    assert maps.ndim == 3 and maps.shape[1:] == frames.shape[1:] and maps.dtype == np.float32
    assert angle._calibrations[:2] == [(0.0, 0.2, "Å"), (0.0, 0.2, "Å")] and angle._intensity_unit == "rad"
    assert np.isfinite(maps).any() and np.isnan(maps).any()  # latents painted on atoms only
    found, frames_mapped = angle.GetTagGroup().GetTagAsString("atomvae:Map frames")
    assert found and len(frames_mapped.split(",")) == len(maps)
    histogram = shown["stack - z1 histogram"]
    per_frame = shown["stack - z1 histogram per frame"].GetNumArray()
    assert histogram.GetNumArray().ndim == 1 and per_frame.shape == (2, histogram.GetNumArray().size)
    np.testing.assert_array_equal(per_frame.sum(axis=0), histogram.GetNumArray())
    origin, scale, _ = histogram._calibrations[0]
    found, edges = histogram.GetTagGroup().GetTagAsString("atomvae:Bin edges")
    edges = np.array(edges.split(","), float)
    assert (
        found and np.isclose(-origin * scale, edges[0], atol=1e-4) and np.isclose(scale, edges[1] - edges[0], rtol=1e-4)
    )
    assert shown["stack - angle histogram"]._calibrations[0][2] == "rad"
    manifold = shown["stack - rVAE manifold"]
    side = manifold.GetNumArray().shape
    assert side[0] == side[1] and side[0] % FAST["analysis"]["manifold_size"] == 0
    assert manifold._calibrations == [(0.0, 0.2, "Å"), (0.0, 0.2, "Å")]
    for name in names:  # the same computation in both modes
        a, b = results["in-process"][name].GetNumArray(), results["out-of-process"][name].GetNumArray()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("mode", MODES)
def test_cancel(dm, frames, mode):
    def press(count):  # the user holds Shift+Ctrl from the second event on
        fake_dm.state.keys_down = count >= 2

    fake_dm.state.on_doevents = press
    fake_dm.source_image(frames, 0.02, "nm")
    assert run_script("atomvae_order_parameters.py", mode, FAST) == {}
    assert fake_dm.state.dialogs == ["atomvae: cancelled; nothing was made."]
    assert fake_dm.state.created == []
    assert any(line[2] == "cancelling ..." for line in fake_dm.state.progress)


def test_cancel_menu_command_tag(dm, frames):
    def menu(count):  # what launchers/atomvae_cancel.s does
        # At the first DoEvents, right after the work's thread started: a later
        # one can come after a fast machine has already finished the work.
        if count == 1:
            fake_dm.state.persistent.SetTagAsString("atomvae:Cancel", "1")

    fake_dm.state.on_doevents = menu
    fake_dm.source_image(frames, 0.02, "nm")
    assert run_script("atomvae_find_atoms.py", "in-process", {}) == {}
    assert fake_dm.state.dialogs == ["atomvae: cancelled; nothing was made."]


@pytest.mark.parametrize("mode", MODES)
def test_library_errors_end_in_a_dialog(dm, frames, mode):
    fake_dm.source_image(frames[0], 0.0001, "nm")  # 0.001 Å/px: atomvae refuses it
    assert run_script("atomvae_find_atoms.py", mode, {}) == {}
    assert len(fake_dm.state.dialogs) == 1
    assert fake_dm.state.dialogs[0].startswith("atomvae failed:") and "pixel" in fake_dm.state.dialogs[0]


def test_create_image_takes_contiguous_arrays_only(dm):
    from atomvae_dm import dm as host

    array = np.arange(12, dtype=np.float32).reshape(3, 4).T
    with pytest.raises(ValueError):
        fake_dm.CreateImage(array)
    image = host.show_image(array, "t", [(0.0, 1.0, "nm")] * 2, {"a:b": 1, "a:c": "x", "a:d": True})
    np.testing.assert_array_equal(image.GetNumArray(), array)
    assert image.GetTagGroup().tags == {"a:b": 1.0, "a:c": "x", "a:d": True}


def test_dm_side_parses_on_older_pythons():
    """Out-of-process serves GMS versions whose Python is older than 3.10: the code
    GMS's Python runs keeps to 3.7 syntax (pipeline.py and worker.py run where
    atomvae runs, >= 3.10)."""
    files = [*SCRIPTS.glob("*.py"), *(PLUGIN / "atomvae_dm").glob("*.py")]
    for path in files:
        if path.name in ("pipeline.py", "worker.py"):
            continue
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 7))


def test_missing_separate_python_is_explained(dm, frames, monkeypatch, tmp_path):
    monkeypatch.setenv("ATOMVAE_DM_PYTHON", str(tmp_path / "no-python.exe"))
    fake_dm.source_image(frames[0], 0.02, "nm")
    assert run_script("atomvae_find_atoms.py", "out-of-process", {}) == {}
    assert "cannot start the separate Python" in fake_dm.state.dialogs[0]
