"""The atomvae calls behind both commands, and nothing of DigitalMicrograph: run
by the in-process backend inside GMS's Python and by ``worker.py`` in a separate
Python, so both modes compute the same arrays. Each task runs the steps of an
atomvae analysis file (docs/FORMAT.md) — exactly what the CLI's ``import``,
``segment``, ``atoms`` ... do — and returns plain arrays for DM images.
"""

from __future__ import annotations

import os

import numpy as np

from . import Cancelled

STEPS = {
    "find-atoms": ("segment", "atoms"),
    "order-parameters": ("segment", "atoms", "subimages", "train-rvae", "encode", "analysis"),
}
LATENTS = ("angle", "z1")


def run(task, frames, pixel_size, settings, analysis_path, progress):
    """Runs ``task`` on frames (n, H, W) with ``settings`` over the "recipe" preset,
    keeping the analysis file at ``analysis_path``; returns (arrays, meta).
    ``progress(fraction, phase)`` returning False cancels (:class:`Cancelled`)."""
    import atomvae

    steps = STEPS[task]
    settings = dict(settings or {})
    file = atomvae.AnalysisFile.create(analysis_path, np.asarray(frames, np.float32), pixel_size)
    try:
        for index, step in enumerate(steps):
            scaled = _scaled(progress, index, len(steps), step)
            try:
                file.run(step, settings=settings, progress=scaled)
            except atomvae.Cancelled as cancelled:
                raise Cancelled() from cancelled
        arrays = _atoms(file)
        if task == "order-parameters":
            arrays.update(_order_parameters(file))
        meta = {
            "task": task,
            "class_names": list(file.class_names),
            "pixel_size_angstrom": float(file.pixel_size),
            "atomvae": atomvae.__version__,
            "settings": settings,
            "analysis_file": os.path.abspath(analysis_path),
        }
        return arrays, meta
    finally:
        file.close()


def _scaled(progress, index, count, step):
    def report(fraction, phase):
        answer = progress((index + min(max(fraction, 0.0), 1.0)) / count, phase or step)
        return answer is None or bool(answer)

    return report


def _atoms(file) -> dict:
    atoms = file.atoms
    arrays = {"probabilities": file.probabilities}
    for field in ("frame", "y", "x", "class", "confidence"):
        arrays["atoms_" + field] = np.ascontiguousarray(atoms[field])
    return arrays


def _order_parameters(file) -> dict:
    analysis = file.analysis
    arrays = {
        "maps_frames": analysis["maps"]["frames"],
        "manifold": analysis["rvae"]["manifold"],
        "manifold_axis": analysis["rvae"]["axis"],
        "windows": np.array(file.windows.shape, np.int64),
    }
    for latent in LATENTS:
        arrays["maps_" + latent] = analysis["maps"][latent]
        arrays["histogram_" + latent] = analysis["histograms"][latent]
        arrays["histogram_" + latent + "_edges"] = analysis["histograms"][latent + "_edges"]
    return arrays
