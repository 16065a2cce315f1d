"""Fast tier: no OpenGL. The jobs, the layer data and the widgets on a
``napari.components.ViewerModel`` (Qt widgets work offscreen)."""

from __future__ import annotations

import threading
import time

import atomvae
import numpy as np
import pytest
from napari.components import ViewerModel

from atomvae_napari import _io, _jobs
from atomvae_napari._layers import layers_from_file, pixel_size_of
from atomvae_napari._widgets import FindAtomsWidget, OrderParametersWidget, put_layers

NM = 0.02  # 0.2 Å/px in nm


def drain(job):
    """Runs a job generator to its end; returns its result and the progress seen."""
    seen = []
    try:
        while True:
            seen.append(next(job))
    except StopIteration as stop:
        return stop.value, seen


def wait_for(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget._run.enabled, timeout=timeout)


def test_sample_is_a_calibrated_stack():
    ((data, kwargs, kind),) = _io.sample_movie_small()
    assert kind == "image" and data.shape == (3, 160, 160) and data.dtype == np.float32
    assert kwargs["scale"] == pytest.approx((1.0, NM, NM))
    assert kwargs["units"] == ("pixel", "nm", "nm")
    viewer = ViewerModel()
    (layer,) = put_layers(viewer, [(data, kwargs, kind)])
    assert pixel_size_of(layer) == 0.2


def test_pixel_size_is_read_never_guessed():
    viewer = ViewerModel()
    assert pixel_size_of(viewer.add_image(np.zeros((8, 8)), scale=(0.5, 0.5))) is None  # pixel units
    assert pixel_size_of(viewer.add_image(np.zeros((8, 8)), scale=(0.03, 0.03), units="nm")) == pytest.approx(0.3)
    assert pixel_size_of(viewer.add_image(np.zeros((8, 8)), scale=(0.5, 0.5), units="angstrom")) == 0.5
    assert pixel_size_of(viewer.add_image(np.zeros((8, 8)), metadata={"atomvae": {"pixel_size": 0.1}})) == 0.1


def test_find_atoms_stack_and_frame(movie):
    file, seen = drain(_jobs.find_atoms(movie, 0.2, name="m", border=4))
    assert seen[-1][0] == 1.0 and {phase for _, phase in seen} >= {"segment", "atoms"}
    layers = {
        kw["name"]: (data, kw, kind)
        for data, kw, kind in layers_from_file(file, ("probabilities", "atoms"), name="m", ndim=3)
    }
    assert set(layers) == {"m p(C)", "m p(Si)", "m atoms"}
    points, kwargs, kind = layers["m atoms"]
    atoms = file.atoms
    assert kind == "points" and points.shape == (len(atoms), 3) and len(atoms) > 100
    np.testing.assert_array_equal(points[:, 0], atoms["frame"])  # (frame, y, x): follows the time slider
    assert list(kwargs["features"].columns) == ["class", "confidence"]
    assert set(kwargs["features"]["class"].unique()) <= {"C", "Si"}
    assert kwargs["size"] == pytest.approx(0.7 / 0.2)  # 0.7 Å in pixels
    assert layers["m p(Si)"][0].shape == movie.shape and layers["m p(Si)"][1]["scale"] == pytest.approx((1, NM, NM))
    frame, _ = drain(_jobs.find_atoms(movie[0], 0.2, name="f"))
    ((points2, kw2, _),) = layers_from_file(frame, ("atoms",), name="f", ndim=2)
    assert points2.shape[1] == 2 and kw2["scale"] == pytest.approx((NM, NM))


def test_cancel_stops_training_within_a_second(movie):
    file, _ = drain(_jobs.find_atoms(movie, 0.2))
    cancel = threading.Event()
    job = _jobs.order_parameters(file.path, epochs=100_000, cancel=cancel)
    started = None
    with pytest.raises(atomvae.Cancelled):
        for _fraction, phase in job:
            if phase.startswith("train") and started is None:
                cancel.set()
                started = time.monotonic()
    assert started is not None and time.monotonic() - started < 1.5
    assert atomvae.AnalysisFile(file.path).latents is None  # nothing half-made


def test_mistakes_are_notifications(qtbot, errors, tmp_path):
    viewer = ViewerModel()
    find, rvae = FindAtomsWidget(viewer), OrderParametersWidget(viewer)
    find.run()
    assert errors[-1][0] == "show_error" and "no image layer" in errors[-1][1]
    find._image.value = viewer.add_image(np.zeros((2, 2, 16, 16)), name="4d")
    find.run()
    assert "4-D" in errors[-1][1]
    find._image.value = viewer.add_image(np.zeros((64, 64)), name="plain")
    find.run()
    assert "pixel size" in errors[-1][1] and "unknown" in errors[-1][1]
    corrupt = tmp_path / "model.h5"
    corrupt.write_bytes(b"not a model at all" * 10)
    find._model.value, find._pixel.value = str(corrupt), 0.2
    find.run()
    wait_for(qtbot, find)
    assert errors[-1][0] == "show_error" and str(corrupt) in errors[-1][1]
    assert [layer.name for layer in viewer.layers] == ["4d", "plain"]  # nothing added
    rvae.run()
    assert "no atoms yet" in errors[-1][1]
    rvae._atoms.value = viewer.add_points(np.zeros((3, 2)), name="mine")
    rvae.run()
    assert "not made by atomvae" in errors[-1][1]


def test_session_on_a_viewer_model(qtbot, errors, movie, tmp_path, plugins):
    viewer = ViewerModel()
    image = viewer.add_image(movie, name="movie")  # no calibration: the user enters it
    find = FindAtomsWidget(viewer)
    find._pixel.value, find._border.value = 0.2, 4.0
    find.run()
    wait_for(qtbot, find)
    assert find.last_error is None, find.last_error
    assert tuple(image.scale) == pytest.approx((1, NM, NM)) and str(image.units[-1]) == "nanometer"
    assert [layer.name for layer in viewer.layers] == ["movie", "movie p(C)", "movie p(Si)", "movie atoms"]
    points = viewer.layers["movie atoms"]
    count = len(points.data)

    rvae = OrderParametersWidget(viewer)
    rvae._epochs.value, rvae._colour.value = 2, "angle"
    assert rvae._atoms.value is points
    rvae.run()
    wait_for(qtbot, rvae)
    assert rvae.last_error is None, rvae.last_error
    points = viewer.layers["movie atoms"]
    assert len(points.data) == count
    assert {"class", "confidence", "angle", "z1", "z2", "gmm"} <= set(points.features.columns)
    encoded = points.features["angle"].notna()
    assert encoded.sum() > 50 and (points.features["gmm"][encoded] >= 0).all()
    assert points.features["class"][encoded].eq("C").all()  # the recipe's windows: carbon atoms
    for name in ("movie angle map", "movie z1 map", "movie z2 map"):
        assert viewer.layers[name].data.shape == movie.shape
        assert tuple(viewer.layers[name].scale) == pytest.approx((1, NM, NM))
    assert viewer.layers["movie angle map"].visible and not viewer.layers["movie z1 map"].visible
    manifold = viewer.layers["movie rVAE manifold"]
    assert manifold.data.shape == (6 * 20, 6 * 20) and manifold.translate[-1] > 128 * NM
    angle_colours = points.face_color.copy()
    rvae._colour.value = "z1"
    assert not np.allclose(points.face_color, angle_colours) and viewer.layers["movie z1 map"].visible
    assert rvae.plot.latent == "z1" and rvae.plot.counts.shape[0] == 2
    viewer.dims.set_current_step(0, 1)
    assert rvae.plot.frame == 1
    np.testing.assert_array_equal(rvae.plot.current(), rvae.plot.counts[1])

    saved = rvae.save(str(tmp_path / "analysis.h5"))
    reopened = ViewerModel()
    reopened.open(saved, plugin="atomvae-napari")
    names = [layer.name for layer in reopened.layers]
    assert names[:3] == ["analysis", "analysis p(C)", "analysis p(Si)"] and names[-1] == "analysis atoms"
    assert "analysis z1 map" in names and "analysis rVAE manifold" in names
    again = reopened.layers["analysis atoms"]
    assert len(again.data) == count and list(again.features.columns) == list(points.features.columns)
    np.testing.assert_allclose(again.features["z1"], points.features["z1"])
    shown = OrderParametersWidget(reopened)  # a reopened analysis shows its histograms
    assert shown._atoms.value is again and shown.plot.latent == "angle" and shown.plot.counts.shape[0] == 2
    assert all(tuple(layer.scale[-2:]) == pytest.approx((NM, NM)) for layer in reopened.layers)

    written = viewer.layers.save(str(tmp_path / "written.h5"), plugin="atomvae-napari")  # the manifest's writer
    with atomvae.AnalysisFile(written[0]) as file:
        assert file.latents is not None and len(file.atoms) == count
    plain = ViewerModel()
    plain.add_image(movie, scale=(1, NM, NM), units=("pixel", "nm", "nm"), name="calibrated")
    (fresh,) = plain.layers.save(str(tmp_path / "fresh.h5"), plugin="atomvae-napari")
    with atomvae.AnalysisFile(fresh) as file:
        assert file.shape == movie.shape and file.pixel_size == pytest.approx(0.2) and file.atoms is None


def test_reader_stacks(tmp_path, plugins):
    import json

    import tifffile

    stack = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    np.save(tmp_path / "movie.npy", stack)
    (tmp_path / "movie.meta.json").write_text(json.dumps({"pixel_size": 0.25}))
    tifffile.imwrite(
        tmp_path / "imagej.tif", stack, imagej=True, resolution=(1 / 0.03, 1 / 0.03), metadata={"unit": "nm"}
    )
    tifffile.imwrite(tmp_path / "bare.tif", stack)
    viewer = ViewerModel()
    for name in ("movie.npy", "imagej.tif", "bare.tif"):
        viewer.open(str(tmp_path / name), plugin="atomvae-napari")
    assert [layer.data.shape for layer in viewer.layers] == [(2, 32, 32)] * 3
    assert pixel_size_of(viewer.layers["movie"]) == pytest.approx(0.25)
    assert pixel_size_of(viewer.layers["imagej"]) == pytest.approx(0.3)
    assert pixel_size_of(viewer.layers["bare"]) is None
    assert _io.get_reader(str(tmp_path / "movie.meta.json")) is None
    (tmp_path / "foreign.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    assert _io.get_reader(str(tmp_path / "foreign.h5")) is None
