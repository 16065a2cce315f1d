"""Shared fixtures. The machine is small and shared: atomvae gets one libtorch
thread (several threads on two busy cores are many times slower), the analysis
step gets small settings, and the movies are 2–3 frames of 128–160 px."""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyqt5")
os.environ.setdefault("PYTEST_QT_API", "pyqt5")

import pytest  # noqa: E402

# Short analysis for tests: what the plugin shows (maps, histograms, GMM labels,
# manifold) is all there, only smaller and with shorter baselines.
FAST_ANALYSIS = {
    "baseline_epochs": 1,
    "baseline_windows": 200,
    "ssim_rotations": 4,
    "gmm_max_components": 3,
    "manifold_size": 6,
    "gmm": {"restarts": 1},
}


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    import atomvae

    atomvae.set_threads(1)


@pytest.fixture(scope="session")
def plugins():
    """npe2's plugin manager with installed plugins discovered (a napari Viewer does
    this on start; a ViewerModel does not)."""
    import npe2

    manager = npe2.PluginManager.instance()
    manager.discover(include_npe1=False)
    assert "atomvae-napari" in manager, "install the plugin: pip install -e napari_plugin"
    return manager


@pytest.fixture(autouse=True)
def _fast_analysis(monkeypatch):
    from atomvae_napari import _jobs

    monkeypatch.setattr(_jobs, "INTERACTIVE_ANALYSIS", FAST_ANALYSIS)


@pytest.fixture
def errors(monkeypatch):
    """Notifications the widgets show, as (kind, message)."""
    from atomvae_napari import _base

    shown = []
    for kind in ("show_error", "show_info"):
        monkeypatch.setattr(_base, kind, lambda message, kind=kind: shown.append((kind, message)))
    return shown


@pytest.fixture(scope="session")
def movie(tmp_path_factory):
    """A simulated movie: 2 frames of 128 × 128 px at 0.2 Å/px."""
    import atomvae

    path = tmp_path_factory.mktemp("movie") / "movie.h5"
    with atomvae.simulate_movie(path, frames=2, height=128, width=128, pixel_size=0.2) as file:
        return file.frames.copy()
