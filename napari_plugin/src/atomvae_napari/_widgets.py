"""The two dock widgets: "Find atoms" (an image → probabilities and atoms) and
"Order parameters (rVAE)" (atoms → angle, z1, z2 and GMM class per atom, latent
maps, the manifold and per-frame histograms). Work runs in a napari thread_worker
with a progress bar and a Cancel button; mistakes become notifications."""

from __future__ import annotations

import os

from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, PushButton, SpinBox
from napari.layers import Image, Points

from . import _base, _jobs
from ._base import JobWidget, layers_of, put_layers
from ._layers import KEY, pixel_size_of, point_colours

COLOUR_BY = ("class", "angle", "z1", "z2", "gmm")


class FindAtomsWidget(JobWidget):
    """Image layer (frame or stack) → p(class) images and a Points layer of atoms."""

    def __init__(self, napari_viewer):
        self._image = ComboBox(label="image", choices=layers_of(napari_viewer, Image))
        self._model = FileEdit(
            label="model file", mode="r", filter="*.h5 *.bin", value="", tooltip="empty: the embedded graphene model"
        )
        self._pixel = FloatSpinBox(
            label="pixel size (Å/px)",
            value=0.0,
            min=0.0,
            max=50.0,
            step=0.01,
            tooltip="0: from the layer's scale and units (or its file)",
        )
        self._threshold = FloatSpinBox(label="threshold", value=0.5, min=0.01, max=0.99, step=0.05)
        self._border = FloatSpinBox(label="border (px)", value=0.0, min=0.0, max=10000.0, step=1.0)
        self._size = FloatSpinBox(label="point size (Å)", value=0.7, min=0.1, max=10.0, step=0.1)
        options = [self._image, self._model, self._pixel, self._threshold, self._border, self._size]
        super().__init__(napari_viewer, options, "Find atoms")

    def run(self, *_):
        image = self._image.value
        if image is None:
            return self.fail("atomvae: no image layer: open a movie or a frame first")
        if image.rgb or image.multiscale or image.ndim not in (2, 3):
            kind = "RGB" if image.rgb else "multiscale" if image.multiscale else f"{image.ndim}-D"
            return self.fail(
                f"atomvae: '{image.name}' is {kind}; Find atoms takes a grey frame (H, W) or a stack (frames, H, W)"
            )
        size = self._pixel.value or pixel_size_of(image)
        if not size:
            return self.fail(
                f"atomvae: the pixel size of '{image.name}' is unknown: enter it in Å/px (atomvae never guesses it)"
            )
        model = str(self._model.value) if str(self._model.value) not in ("", ".") else None
        options = {"model": model, "threshold": self._threshold.value, "border": self._border.value}
        return self._start(
            _find_atoms_work,
            {"image": image, "pixel_size": size, "atom_size": self._size.value, **options},
            self._show,
            "Find atoms",
        )

    def _show(self, tuples):
        image = self._image.value
        if image is not None:
            _calibrate(image, tuples[0][1])
            stale = [f"{image.name} {part}" for part in ("angle map", "z1 map", "z2 map", "rVAE manifold")]
            for name in stale:  # an earlier rVAE's results no longer match these atoms
                if name in self._viewer.layers:
                    self._viewer.layers.remove(name)
        self.added = put_layers(self._viewer, tuples)
        self._status.value = f"{len(self.added[-1].data)} atoms"


def _find_atoms_work(image, pixel_size, atom_size, cancel, **options):
    import numpy as np

    from ._layers import layers_from_file

    frames = np.asarray(image.data)
    file = yield from _jobs.find_atoms(frames, pixel_size, name=image.name, cancel=cancel, **options)
    try:
        return layers_from_file(
            file, ("probabilities", "atoms"), name=image.name, ndim=frames.ndim, like=image, atom_size=atom_size
        )
    finally:
        file.close()


def _calibrate(image, kwargs) -> None:
    """Gives the source image the new layers' calibration (nm/px) when it lacked it."""
    import numpy as np

    scale = kwargs["scale"][-2:]
    if np.allclose(image.scale[-2:], scale) and all(str(u) == "nanometer" for u in image.units[-2:]):
        return
    image.scale = (*image.scale[:-2], *scale)
    image.units = (*[str(u) for u in image.units[:-2]], "nm", "nm")
    _base.show_info(f"atomvae: '{image.name}' calibrated to {scale[-1]:.4g} nm/px")


class OrderParametersWidget(JobWidget):
    """Atoms (from Find atoms or a reopened analysis) → rVAE order parameters."""

    def __init__(self, napari_viewer):
        from ._plot import HistogramPlot

        self._atoms = ComboBox(label="atoms", choices=layers_of(napari_viewer, Points))
        # The recipe's: at most 200 epochs, ended sooner once the held-out −ELBO
        # stops improving (≈ 2 minutes on a laptop for a small movie).
        self._epochs = SpinBox(label="epochs (at most)", value=200, min=1, max=10000)
        self._window = FloatSpinBox(label="window (Å)", value=4.0, min=1.0, max=50.0, step=0.5)
        self._seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        self._colour = ComboBox(label="colour by", choices=COLOUR_BY, value="class")
        self._save = PushButton(text="Save analysis…")
        super().__init__(napari_viewer, [self._atoms, self._epochs, self._window, self._seed, self._colour], "Run rVAE")
        self.append(self._save)
        self.plot = HistogramPlot()
        self.native.layout().addWidget(self.plot)
        self._colour.changed.connect(self.recolour)
        self._atoms.changed.connect(self._load_histograms)
        self._save.changed.connect(self._save_dialog)
        self._histograms: dict = {}
        napari_viewer.dims.events.current_step.connect(self._follow_slider)
        self._load_histograms(self._atoms.value)

    def _source(self):
        points = self._atoms.value
        if points is None:
            self.fail("atomvae: no atoms yet: run Find atoms first")
            return None
        path = (points.metadata or {}).get(KEY, {}).get("file")
        if not path:
            self.fail(f"atomvae: '{points.name}' was not made by atomvae: run Find atoms first")
            return None
        return points, path

    def run(self, *_):
        source = self._source()
        if source is None:
            return None
        points, path = source
        name = points.name.removesuffix(" atoms")
        options = {"epochs": self._epochs.value, "window_angstrom": self._window.value, "seed": self._seed.value}
        return self._start(
            _rvae_work,
            {
                "path": path,
                "name": name,
                "ndim": points.ndim,
                "atom_size": float(points.size.mean() * pixel_size_of(points)) if len(points.data) else 1.0,
                "colour_by": self._colour.value,
                **options,
            },
            self._show,
            "rVAE",
        )

    def _show(self, result):
        tuples, histograms = result
        self.added = put_layers(self._viewer, tuples)
        points = next(layer for layer in self.added if isinstance(layer, Points))
        self._viewer.layers.move(self._viewer.layers.index(points), len(self._viewer.layers) - 1)  # above the maps
        self._atoms.value = points
        self._histograms = histograms
        self.recolour()
        self._status.value = f"{int(points.features['angle'].notna().sum())} atoms encoded"

    def recolour(self, *_):
        """Colours the atoms by the chosen column and shows that latent's map and histogram."""
        points, by = self._atoms.value, self._colour.value
        if points is None:
            return
        if by not in points.features:
            self._status.value = f"no {by} yet: run the rVAE"
            return None
        limits = points.metadata.get(KEY, {}).get("limits", {}).get(by)
        points.face_color = point_colours(points.features, by, limits)
        name = points.name.removesuffix(" atoms")
        for latent in ("angle", "z1", "z2"):
            if f"{name} {latent} map" in self._viewer.layers:
                self._viewer.layers[f"{name} {latent} map"].visible = latent == by
        if by in self._histograms:
            self.plot.set_data(by, *self._histograms[by])
            self._follow_slider()
        return None

    def _load_histograms(self, points) -> None:
        """The per-frame histograms of an analysed atoms layer (e.g. a reopened file)."""
        self._histograms = {}
        self.plot.clear()
        path = (getattr(points, "metadata", None) or {}).get(KEY, {}).get("file")
        if points is None or "angle" not in points.features or not path or not os.path.exists(path):
            return
        import atomvae

        from ._layers import analysis_parts

        try:
            with atomvae.AnalysisFile(path) as file:
                self._histograms = (analysis_parts(file) or {}).get("histograms", {})
        except atomvae.AtomvaeError:
            return
        latent = self._colour.value if self._colour.value in self._histograms else "angle"
        if latent in self._histograms:
            self.plot.set_data(latent, *self._histograms[latent])
            self._follow_slider()

    def _follow_slider(self, *_):
        points = self._atoms.value
        if points is not None and points.ndim == 3 and self._viewer.dims.ndim >= 3:
            world = self._viewer.dims.point[-3]
            self.plot.set_frame(int(round((world - points.translate[0]) / points.scale[0])))

    def _save_dialog(self, *_):
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self.native, "Save atomvae analysis", "analysis.h5", "HDF5 (*.h5)")
        if path:
            self.save(path)

    def save(self, path: str) -> str | None:
        """Writes the atoms' analysis file (a copy of the session file) to ``path``."""
        import atomvae

        source = self._source()
        if source is None:
            return None
        with atomvae.AnalysisFile(source[1]) as file:
            file.copy(path).close()
        _base.show_info(f"atomvae: analysis saved to {path}")
        return path


def _rvae_work(path, name, ndim, atom_size, colour_by, cancel, **options):
    from ._layers import analysis_parts, layers_from_file

    file = yield from _jobs.order_parameters(path, cancel=cancel, **options)
    try:
        tuples = layers_from_file(
            file, ("atoms", "maps", "manifold"), name=name, ndim=ndim, colour_by=colour_by, atom_size=atom_size
        )
        return tuples, (analysis_parts(file) or {}).get("histograms", {})
    finally:
        file.close()


__all__ = ["FindAtomsWidget", "OrderParametersWidget", "put_layers"]
