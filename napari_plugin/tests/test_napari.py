"""Real napari (needs OpenGL: run under xvfb-run): the widgets docked through the
manifest, the sample, a whole session with screenshots, cancelling, npe2 validate.

Screenshots go to $ATOMVAE_NAPARI_SCREENSHOTS (the README's are docs/napari/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import atomvae
import numpy as np
import pytest

pytestmark = pytest.mark.gui
if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    pytest.skip("needs a display with OpenGL (xvfb-run)", allow_module_level=True)

PLUGIN = "atomvae-napari"
NM = 0.02
EPOCHS = int(os.environ.get("ATOMVAE_NAPARI_EPOCHS", "5"))  # the README's screenshots: 30 (the recipe's)


def wait_for(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget._run.enabled, timeout=timeout)


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("ATOMVAE_NAPARI_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def viewer(make_napari_viewer):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1380, 860)
    return viewer


def test_npe2_validate():
    result = subprocess.run([sys.executable, "-m", "npe2", "validate", PLUGIN], capture_output=True, text=True)
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr


def test_napari_starts_without_atomvae():
    """Nothing heavy at start-up: napari with the plugin discovered imports neither atomvae nor torch."""
    code = (
        "import sys, napari; viewer = napari.Viewer(show=False); import npe2; "
        "assert 'atomvae-napari' in npe2.PluginManager.instance(); "
        "print('loaded:', sorted(m for m in ('atomvae', 'torch') if m in sys.modules)); viewer.close()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "loaded: []" in result.stdout, result.stdout + result.stderr


def test_session_on_the_sample(viewer, qtbot, errors, tmp_path):
    (movie,) = viewer.open_sample(PLUGIN, "graphene_small")
    assert movie.data.shape == (3, 160, 160) and tuple(movie.scale) == pytest.approx((1, NM, NM))
    _, find = viewer.window.add_plugin_dock_widget(PLUGIN, "Find atoms")
    find._border.value = 4.0
    find.run()
    wait_for(qtbot, find)
    assert find.last_error is None, find.last_error
    name = movie.name
    assert [layer.name for layer in viewer.layers] == [name, f"{name} p(C)", f"{name} p(Si)", f"{name} atoms"]
    points = viewer.layers[f"{name} atoms"]
    assert points.ndim == 3 and len(points.data) > 300
    assert list(points.features.columns) == ["class", "confidence"]
    assert all(tuple(layer.scale) == pytest.approx((1, NM, NM)) for layer in viewer.layers)
    viewer.dims.set_current_step(0, 1)
    viewer.reset_view()
    viewer.screenshot(str(shots(tmp_path) / "find_atoms.png"), canvas_only=False)

    _, rvae = viewer.window.add_plugin_dock_widget(PLUGIN, "Order parameters (rVAE)")
    rvae._epochs.value, rvae._colour.value = EPOCHS, "angle"
    rvae.run()
    wait_for(qtbot, rvae)
    assert rvae.last_error is None, rvae.last_error
    points = viewer.layers[f"{name} atoms"]
    assert {"angle", "z1", "z2", "gmm"} <= set(points.features.columns)
    count, encoded = len(points.data), int(points.features["angle"].notna().sum())
    assert encoded > 100
    for latent in ("angle", "z1", "z2"):
        assert viewer.layers[f"{name} {latent} map"].data.shape == movie.data.shape
    assert viewer.layers[f"{name} rVAE manifold"].data.ndim == 2
    for layer in (viewer.layers[f"{name} p(C)"], viewer.layers[f"{name} p(Si)"]):
        layer.visible = False
    viewer.reset_view()
    viewer.screenshot(str(shots(tmp_path) / "rvae_angle.png"), canvas_only=False)
    rvae._colour.value = "z1"
    assert viewer.layers[f"{name} z1 map"].visible and not viewer.layers[f"{name} angle map"].visible
    viewer.screenshot(str(shots(tmp_path) / "rvae_z1.png"), canvas_only=False)

    saved = rvae.save(str(tmp_path / "session.h5"))
    with atomvae.AnalysisFile(saved) as file:
        assert len(file.atoms) == count and len(file.latents["z1"]) == encoded
    viewer.layers.clear()
    viewer.open(saved, plugin=PLUGIN)
    names = [layer.name for layer in viewer.layers]
    assert names == [
        "session",
        "session p(C)",
        "session p(Si)",
        "session angle map",
        "session z1 map",
        "session z2 map",
        "session rVAE manifold",
        "session atoms",
    ]
    again = viewer.layers["session atoms"]
    assert len(again.data) == count and {"class", "confidence", "angle", "z1", "z2", "gmm"} <= set(again.features)
    assert all(tuple(layer.scale[-2:]) == pytest.approx((NM, NM)) for layer in viewer.layers)
    assert all(str(layer.units[-1]) == "nanometer" for layer in viewer.layers)


def test_cancel_mid_training(viewer, qtbot, errors):
    (movie,) = viewer.open_sample(PLUGIN, "graphene_small")
    _, find = viewer.window.add_plugin_dock_widget(PLUGIN, "Find atoms")
    find.run()
    wait_for(qtbot, find)
    _, rvae = viewer.window.add_plugin_dock_widget(PLUGIN, "Order parameters (rVAE)")
    rvae._epochs.value = 10_000
    before = [layer.name for layer in viewer.layers]
    features = list(viewer.layers[f"{movie.name} atoms"].features.columns)
    rvae.run()
    qtbot.waitUntil(lambda: rvae._status.value.startswith("train"), timeout=60_000)
    rvae._cancel.native.click()
    wait_for(qtbot, rvae, timeout=5_000)  # stopped within the native call's next progress report
    assert ("show_info", "atomvae: cancelled, nothing added") in errors
    assert rvae.last_error is None and rvae._status.value.startswith("cancelled")
    assert [layer.name for layer in viewer.layers] == before  # no half layer
    assert list(viewer.layers[f"{movie.name} atoms"].features.columns) == features


def test_mistakes_in_napari(viewer, errors):
    _, find = viewer.window.add_plugin_dock_widget(PLUGIN, "Find atoms")
    find.run()
    assert errors[-1] == ("show_error", "atomvae: no image layer: open a movie or a frame first")
    viewer.add_image(np.zeros((64, 64), np.float32), name="uncalibrated")
    find.run()
    assert errors[-1][0] == "show_error" and "pixel size of 'uncalibrated' is unknown" in errors[-1][1]
