"""The "rVAE order parameters" computation: a movie → the rVAE's angle and z1
painted on the atoms of the first, middle and last frames, its latent manifold,
and per-frame histograms of angle and z1 (the paper's Figs. 5–7). The whole
atomvae pipeline (segment, atoms, subimages, train-rvae, encode, analysis) runs
on a temporary analysis file that is removed afterwards."""

from __future__ import annotations

import gettext
import os
import tempfile
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata

from . import _engine
from ._frames import Frames, frames_of, like_frames, set_output, source_title, window_calibrations
from ._parameters import Parameter

_ = gettext.gettext

PROCESSING_ID = "atomvae.order-parameters"
# Shares of the progress bar by step (training and the analysis take most of the time).
STEP_WEIGHTS = {"segment": 1.0, "atoms": 0.2, "subimages": 0.3, "train-rvae": 5.0, "encode": 0.3, "analysis": 3.0}
# The analysis step also fits the paper's baselines (GMM, conv AE, VAE, SSIM), which
# this plugin does not show: keep them to a minimum so that they cost little.
ANALYSIS_SETTINGS = {"baseline_epochs": 1, "baseline_windows": 100, "ssim_rotations": 1}
LATENTS = {"angle": "rad", "z1": ""}


class OrderParameters:
    """Computation handler (``Symbolic.register_computation_type``)."""

    label = _("rVAE order parameters (atomvae)")
    parameters = (
        Parameter("threshold", _("Atom threshold on 1 − p(background)"), 0.5, 0.01, 0.99),
        Parameter("window", _("Window size (Å)"), 4.0, 1.0, 30.0),
        Parameter("epochs", _("rVAE training epochs (at most: stops when converged)"), 200, 1, 1000),
        Parameter("seed", _("Random seed"), 0, 0, 2**31 - 1),
        Parameter("bins", _("Histogram bins"), 60, 4, 1000),
    )
    inputs = {"src": {"label": _("Movie")}, **{p.name: {"label": p.label} for p in parameters}}
    outputs = {
        "angle_map": {"label": _("Angle map")},
        "z1_map": {"label": _("z1 map")},
        "manifold": {"label": _("Latent manifold")},
        "angle_histogram": {"label": _("Angle histograms")},
        "z1_histogram": {"label": _("z1 histograms")},
    }

    def __init__(self, computation, **kwargs: typing.Any) -> None:
        self.computation = computation
        self.__results: list[tuple[str, DataAndMetadata.DataAndMetadata, str, str | None]] | None = None

    def execute_task(self, context) -> None:
        self.__results = self._run(dict(context.parameters.parameter_map), _engine.Progress(context))

    def execute(self, **kwargs: typing.Any) -> None:
        self.__results = self._run(kwargs, _engine.Progress(None))

    @classmethod
    def settings(cls, arguments: typing.Mapping[str, typing.Any]) -> dict:
        """atomvae settings (laid over the "recipe" preset) from the parameters."""
        value = {p.name: p.value_of(arguments) for p in cls.parameters}
        return {
            "atoms": {"threshold": value["threshold"]},
            "windows": {"size_angstrom": value["window"]},
            "training": {"epochs": value["epochs"], "seed": value["seed"]},
            "analysis": {**ANALYSIS_SETTINGS, "bins": value["bins"]},
        }

    def _run(self, arguments: dict, progress: _engine.Progress):
        frames = frames_of(arguments.get("src"), source_title(self.computation), movie_only=True)
        settings = self.settings(arguments)
        atomvae = _engine.atomvae()
        progress.check()
        total = sum(STEP_WEIGHTS.values())
        with tempfile.TemporaryDirectory(prefix="atomvae-nionswift-") as folder:
            file = atomvae.AnalysisFile.create(os.path.join(folder, "analysis.h5"), frames.data, frames.pixel_size)
            try:
                done = 0.0
                for step in atomvae.STEPS:
                    share = STEP_WEIGHTS[step] / total
                    file.run(
                        step, settings=settings, segmenter=_engine.segmenter(), progress=progress.part(done, share)
                    )
                    done += share
                return self._results(frames, file.analysis, settings)
            finally:
                file.close()

    @staticmethod
    def _results(frames: Frames, analysis: dict, settings: dict) -> list:
        mapped = [int(i) for i in analysis["maps"]["frames"]]
        about = {"settings": settings, "pixel_size_angstrom": frames.pixel_size}
        results = []
        for latent, units in LATENTS.items():
            maps = analysis["maps"][latent]
            metadata = {"atomvae": {**about, "latent": latent, "frames": mapped, "outside_atoms": "NaN"}}
            xdata = like_frames(frames, maps, units=units, metadata=metadata, sequence=Calibration.Calibration())
            results.append((f"{latent}_map", xdata, f"{frames.title} {latent} map", "magma"))
        for latent, units in LATENTS.items():
            counts = analysis["histograms"][latent].astype(np.float32)
            edges = analysis["histograms"][f"{latent}_edges"]
            step = (edges[-1] - edges[0]) / counts.shape[1]
            metadata = {"atomvae": {**about, "latent": latent, "edges": [float(e) for e in edges]}}
            xdata = DataAndMetadata.new_data_and_metadata(
                counts,
                intensity_calibration=Calibration.Calibration(units="atoms"),
                dimensional_calibrations=[
                    frames.sequence_calibration,
                    Calibration.Calibration(offset=float(edges[0]), scale=float(step), units=units),
                ],
                metadata=metadata,
                data_descriptor=DataAndMetadata.DataDescriptor(True, 0, 1),
            )
            results.append((f"{latent}_histogram", xdata, f"{frames.title} {latent} histograms", None))
        manifold = analysis["rvae"]["manifold"]  # (n, n, w, w): row = z2, column = z1
        n, _, w, _ = manifold.shape
        montage = np.ascontiguousarray(manifold.transpose(0, 2, 1, 3).reshape(n * w, n * w))
        metadata = {
            "atomvae": {**about, "grid": n, "window_px": w, "axis": [float(a) for a in analysis["rvae"]["axis"]]}
        }
        xdata = DataAndMetadata.new_data_and_metadata(
            montage, dimensional_calibrations=window_calibrations(frames), metadata=metadata
        )
        results.append(("manifold", xdata, f"{frames.title} rVAE manifold (z1 →, z2 ↓)", None))
        return results

    def commit(self) -> None:
        for name, xdata, title, color_map in self.__results or []:
            set_output(self.computation, name, xdata, title, color_map=color_map)
