"""The analysis file and the pipeline on it: a movie (a file or frames in memory)
taken step by step — segment, atoms, subimages, train-rvae, encode, analysis —
with every result kept in one HDF5 file (docs/FORMAT.md) and read back as numpy
arrays. Every step replaces its results atomically: a failed or cancelled step
leaves the file as it was."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np

from . import _library as L
from ._arrays import ATOM_DTYPE, as_float32, pixel_size_of, reading
from .errors import InvalidArgument
from .rvae import settings_json
from .segment import Segmenter

STEPS = ("segment", "atoms", "subimages", "train-rvae", "encode", "analysis")


class AnalysisFile(L.Handle):
    """An atomvae analysis file, opened for reading and for running steps.

    >>> f = AnalysisFile("movie.h5")
    >>> f.run("segment"); f.run("atoms", settings={"atoms": {"threshold": 0.6}})
    >>> f.atoms["class"], f.latents["angle"]
    """

    _free = L.lib.atomvae_analysis_free

    def __init__(self, path: str | os.PathLike):
        out = L.ffi.new("AtomvaeAnalysis_t **")
        L.check(L.lib.atomvae_analysis_open(L.text(path), out))
        super().__init__(out[0])
        self.path = os.fspath(path)
        self._refresh()

    @classmethod
    def create(cls, path: str | os.PathLike, frames, pixel_size: float) -> AnalysisFile:
        """A new analysis file at ``path`` from frames in memory ((H, W) or (n, H, W),
        ``pixel_size`` in Å/px)."""
        stack = as_float32(frames, "frames", (2, 3))
        if stack.ndim == 2:
            stack = stack[None]
        size = pixel_size_of(pixel_size)
        out = L.ffi.new("AtomvaeAnalysis_t **")
        L.check(L.lib.atomvae_analysis_create(reading(stack), *stack.shape, size, L.text(path), out))
        return cls._adopt(out[0], path)

    @classmethod
    def _adopt(cls, pointer, path: str | os.PathLike) -> AnalysisFile:
        """An object over a handle the library just opened for ``path``."""
        made = cls.__new__(cls)
        L.Handle.__init__(made, pointer)
        made.path = os.fspath(path)
        made._refresh()
        return made

    def copy(self, path: str | os.PathLike) -> AnalysisFile:
        """Copies the file with its part files (the folder ``<name>.parts`` that holds
        the large arrays) to ``path`` and opens the copy. A plain file copy
        (``shutil.copy``) would lack the parts."""
        out = L.ffi.new("AtomvaeAnalysis_t **")
        L.check(L.lib.atomvae_analysis_copy(self.pointer, L.text(path), out))
        return type(self)._adopt(out[0], path)

    def _refresh(self) -> None:
        frames, height, width = (L.ffi.new("size_t *") for _ in range(3))
        pixel = L.ffi.new("double *")
        L.check(L.lib.atomvae_analysis_shape(self.pointer, frames, height, width, pixel))
        self.shape = (frames[0], height[0], width[0])
        self.pixel_size = pixel[0]
        self.contents = json.loads(L.call_with_text(L.lib.atomvae_analysis_contents_json, self.pointer))
        self._datasets = {d["path"]: d for d in self.contents["datasets"]}
        self.class_names = json.loads(self.contents["attributes"]["class_names"])

    # --- reading -------------------------------------------------------------

    @property
    def datasets(self) -> list[str]:
        """Paths of every dataset in the file (e.g. ``/atoms/y``)."""
        return list(self._datasets)

    def __contains__(self, path: str) -> bool:
        path = "/" + path.lstrip("/")
        return path in self._datasets or any(g["path"] == path for g in self.contents["groups"])

    def read(self, path: str) -> np.ndarray:
        """The dataset at ``path`` as a numpy array of its own type and shape."""
        path = "/" + path.lstrip("/")
        described = self._datasets.get(path)
        if described is None:
            raise InvalidArgument(f"{self.path} has no dataset {path}")
        if described["dtype"] is None:
            raise InvalidArgument(f"{path} does not hold numbers")
        raw = L.call_with_bytes(L.lib.atomvae_analysis_read, self.pointer, L.text(path))
        return np.frombuffer(raw, dtype=np.dtype(described["dtype"]).newbyteorder("<")).reshape(described["shape"])

    def attributes(self, path: str = "/") -> dict:
        """Attributes of a group or dataset; JSON held in string attributes is parsed."""
        path = "/" + path.lstrip("/")
        if path == "/":
            found = self.contents["attributes"]
        else:
            found = next(
                (g["attributes"] for g in self.contents["groups"] + self.contents["datasets"] if g["path"] == path),
                None,
            )
            if found is None:
                raise InvalidArgument(f"{self.path} has no group or dataset {path}")
        return {key: _maybe_json(value) for key, value in found.items()}

    @property
    def frames(self) -> np.ndarray:
        """The movie (frames, H, W), float32."""
        return self.read("/frames")

    @property
    def probabilities(self) -> np.ndarray | None:
        """Class probabilities (frames, classes, H, W), or None before ``segment``."""
        return self.read("/probabilities") if "/probabilities" in self._datasets else None

    @property
    def atoms(self) -> np.ndarray | None:
        """The atom table (fields frame, y, x, class, confidence), or None before ``atoms``."""
        if "/atoms/frame" not in self._datasets:
            return None
        table = np.empty(self._datasets["/atoms/frame"]["shape"][0], ATOM_DTYPE)
        for field in ATOM_DTYPE.names:
            table[field] = self.read(f"/atoms/{field}")
        return table

    @property
    def windows(self) -> np.ndarray | None:
        """Windows around atoms (N, w, w), or None before ``subimages``."""
        return self.read("/subimages/windows") if "/subimages/windows" in self._datasets else None

    @property
    def window_atoms(self) -> dict | None:
        """For each window: ``atom_index`` (row of :attr:`atoms`), ``frame``, ``y``, ``x``, ``class``."""
        if "/subimages/atom_index" not in self._datasets:
            return None
        return {k: self.read(f"/subimages/{k}") for k in ("atom_index", "frame", "y", "x", "class")}

    @property
    def latents(self) -> dict | None:
        """Posterior means by column name (``angle``, ``z1`` …, each (N,)), plus
        ``mean`` and ``logvar`` (N, columns) and ``columns``; None before ``encode``."""
        if "/latents/mean" not in self._datasets:
            return None
        columns = self.attributes("/latents").get("columns") or self.attributes("/latents/mean").get("columns")
        mean, logvar = self.read("/latents/mean"), self.read("/latents/logvar")
        result = {name: mean[:, i] for i, name in enumerate(columns)}
        result.update(mean=mean, logvar=logvar, columns=list(columns))
        return result

    @property
    def analysis(self) -> Mapping | None:
        """The latent analysis (``/analysis``: histograms, maps, GMMs, manifolds,
        SSIM) as nested read-only mappings whose arrays are read when first used,
        or None before the ``analysis`` step."""
        if "/analysis" not in self:
            return None
        return _Tree(self, "/analysis")

    @property
    def provenance(self) -> dict:
        """Each step's record: parameters, started, finished, device, seed, software."""
        steps = {}
        for group in self.contents["groups"]:
            parts = group["path"].split("/")
            if len(parts) == 3 and parts[1] == "provenance":
                steps[parts[2]] = {k: _maybe_json(v) for k, v in group["attributes"].items()}
        return steps

    # --- running steps -------------------------------------------------------

    def run(
        self,
        step: str,
        *,
        preset: str = "recipe",
        settings: dict | None = None,
        segmenter: Segmenter | None = None,
        device: str = "auto",
        progress: L.Progress | None = None,
    ) -> AnalysisFile:
        """Runs one step (one of :data:`STEPS`) with the preset's settings and the
        ``settings`` laid over them (see :func:`atomvae.settings`)."""
        if step not in STEPS:
            raise InvalidArgument(f"step must be one of {STEPS}, not {step!r}")
        bridge = L.ProgressBridge(progress)
        status = L.lib.atomvae_analysis_run(
            self.pointer,
            step.encode(),
            settings_json(preset, settings),
            segmenter.pointer if segmenter is not None else L.ffi.NULL,
            L.device_code(device),
            bridge.callback,
            L.ffi.NULL,
        )
        try:
            bridge.finish(status)
        finally:
            self._refresh()
        return self


def movie_info(path: str | os.PathLike, dataset: str | None = None) -> dict:
    """What a movie file (.npy, .tif/.tiff, .h5 with ``dataset``) holds, from its
    headers: ``{"shape": (frames, height, width), "pixel_size": Å/px or None}`` —
    None when the file does not state it (atomvae never guesses)."""
    sizes = [L.ffi.new("size_t *") for _ in range(3)]
    pixel = L.ffi.new("double *")
    L.check(L.lib.atomvae_movie_info(L.text(path), L.text(dataset), *sizes, pixel))
    return {"shape": tuple(int(s[0]) for s in sizes), "pixel_size": pixel[0] if pixel[0] > 0 else None}


def import_movie(
    movie: str | os.PathLike,
    out: str | os.PathLike,
    *,
    pixel_size: float | None = None,
    dataset: str | None = None,
    progress: L.Progress | None = None,
) -> AnalysisFile:
    """A new analysis file at ``out`` from a movie file (the ``import`` step), ready
    for :meth:`AnalysisFile.run`. ``pixel_size`` (Å/px) overrides the file's own;
    without either the call is refused."""
    out_handle = L.ffi.new("AtomvaeAnalysis_t **")
    bridge = L.ProgressBridge(progress)
    size = pixel_size_of(pixel_size) if pixel_size is not None else 0.0
    status = L.lib.atomvae_analysis_import(
        L.text(movie), L.text(dataset), L.text(out), size, bridge.callback, L.ffi.NULL, out_handle
    )
    bridge.finish(status)
    return AnalysisFile._adopt(out_handle[0], out)


def rename_analysis(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Moves the analysis file ``source`` with its part files to ``target``,
    replacing ``target`` atomically (e.g. an attempt written under a temporary
    name, published when complete). Close every :class:`AnalysisFile` on
    ``source`` first."""
    L.check(L.lib.atomvae_analysis_rename(L.text(source), L.text(target)))


class _Tree(Mapping):
    """A group of an analysis file: sub-groups as mappings, datasets read (once) on access."""

    def __init__(self, file: AnalysisFile, path: str):
        self._file, self._path, self._cache = file, path, {}
        prefix = path + "/"
        self._names = sorted(
            {p[len(prefix) :].split("/")[0] for p in file._datasets if p.startswith(prefix)}
            | {g["path"][len(prefix) :].split("/")[0] for g in file.contents["groups"] if g["path"].startswith(prefix)}
        )

    def __getitem__(self, name: str):
        if name not in self._names:
            raise KeyError(name)
        if name not in self._cache:
            path = f"{self._path}/{name}"
            self._cache[name] = self._file.read(path) if path in self._file._datasets else _Tree(self._file, path)
        return self._cache[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<atomvae analysis group {self._path}: {', '.join(self._names)}>"


def _maybe_json(value):
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def analyze(
    movie,
    out: str | os.PathLike,
    *,
    pixel_size: float | None = None,
    preset: str = "recipe",
    settings: dict | None = None,
    segmenter: Segmenter | None = None,
    device: str = "auto",
    progress: L.Progress | None = None,
) -> AnalysisFile:
    """The whole pipeline on a movie — a path (.npy, .tif, .h5) or frames in memory
    — into the analysis file ``out``. ``pixel_size`` (Å/px) is needed unless the
    file states it. ``progress(fraction, phase)`` sees every step; False cancels
    (the file keeps the steps that finished)."""
    if isinstance(movie, (str, os.PathLike)):
        bridge = L.ProgressBridge(progress)
        status = L.lib.atomvae_analyze_movie_json(
            L.text(movie),
            L.text(out),
            float(pixel_size) if pixel_size is not None else 0.0,
            settings_json(preset, settings),
            segmenter.pointer if segmenter is not None else L.ffi.NULL,
            L.device_code(device),
            bridge.callback,
            L.ffi.NULL,
        )
        bridge.finish(status)
        return AnalysisFile(out)
    file = AnalysisFile.create(out, movie, pixel_size)
    for step in STEPS:
        file.run(step, preset=preset, settings=settings, segmenter=segmenter, device=device, progress=progress)
    return file


def simulate_movie(
    path: str | os.PathLike,
    *,
    frames: int = 6,
    height: int = 256,
    width: int = 256,
    pixel_size: float = 0.2,
    seed: int = 0,
    simulation: dict | None = None,
    movie: dict | None = None,
    progress: L.Progress | None = None,
) -> AnalysisFile:
    """A simulated movie of Si-doped graphene with growing holes (and its ground
    truth under ``/truth``) written to ``path`` (.h5) and opened as an analysis
    file. ``simulation`` / ``movie`` override the simulator's other settings."""
    sim = {"height": int(height), "width": int(width), "pixel_size": float(pixel_size), **(simulation or {})}
    mov = {"frames": int(frames), **(movie or {})}
    bridge = L.ProgressBridge(progress)
    status = L.lib.atomvae_simulate_movie(
        json.dumps({"simulation": sim, "movie": mov}).encode(), int(seed), L.text(path), bridge.callback, L.ffi.NULL
    )
    bridge.finish(status)
    return AnalysisFile(path)
