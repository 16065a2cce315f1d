"""atomvae on Dask: the same library calls, spread over the worker processes of a
Dask cluster (a ``LocalCluster``, a scheduler address, or a batch system through
dask-jobqueue). See docs/DASK.md.

Three levels:

- **Frames of one movie** — :func:`segment`, :func:`find_atoms`,
  :func:`segment_atoms` on a ``(frames, H, W)`` dask array chunked in frame
  blocks (:func:`movie_frames` reads a ``.h5``/``.npy`` movie lazily): the class
  probabilities come back as a lazy dask array, the atoms as a lazy table
  (a numpy structured array with :data:`atomvae.ATOM_DTYPE`, or a pandas
  DataFrame through :func:`atoms_dataframe`).
- **Many movies** — :func:`analyze_many`: one analysis file per movie, each made
  by one worker, with progress across all of them and failures reported per movie.
- **One rVAE across movies** — :func:`rvae_across`: windows from every movie (or a
  seeded sample) train one rVAE on a worker; every movie's windows are encoded in
  parallel; per-movie latents land beside each analysis file
  (``<analysis>.latents.npz``) and one combined table (movie, frame, atom, latents)
  is written for cross-movie histograms.

Workers should run one thread each (``threads_per_worker=1``, or ``cores ==
processes`` in dask-jobqueue); :class:`AtomvaeWorker` (registered by
:func:`connect` / :func:`register`) sets atomvae's thread count to match, and
every task does so too if the plugin is missing. With equal threads per process
the results do not depend on how many processes share the work: atoms are
bit-identical on 1 process and on N, latents equal within float tolerance.

Each worker process holds one native model per (model, device) — loaded on first
use and kept in a module-level cache — never one per task; nothing loads a model
while a graph is built.

Command line::

    python -m atomvae.dask --scheduler local --workers 2 --out-dir out movie1.h5 movie2.h5 --across
    python -m atomvae.dask --scheduler tcp://head:8786 --pixel-size 0.1 movies/*.npy
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import glob
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from ._arrays import ATOM_DTYPE
from .analysis import STEPS, AnalysisFile, analyze, import_movie, rename_analysis
from .errors import InvalidArgument
from .rvae import Rvae
from .segment import Segmenter
from .segment import find_atoms as _find_atoms

#: Classes of the embedded graphene model (background, C, Si).
EMBEDDED_CLASSES = 3
#: Default size of a frame block (MiB of float32 frames) — Dask's sweet spot of 100–200 MB.
CHUNK_MIB = 128
#: Topic of the progress events workers send (``Client.subscribe_topic``).
PROGRESS_TOPIC = "atomvae-progress"
#: Suffix of an analysis file made for a movie.
ANALYSIS_SUFFIX = ".analysis.h5"
#: Suffix of the per-movie latents written by :func:`rvae_across`.
LATENTS_SUFFIX = ".latents.npz"

Progress = Callable[[float, str], "bool | None"]

# --------------------------------------------------------------------------------------
# Worker side: threads and the per-process model cache
# --------------------------------------------------------------------------------------

_STATE: dict = {"threads": None, "loads": 0, "malloc_tuned": None}
_MODELS: OrderedDict = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 4


def _worker():
    try:
        return get_worker()
    except ValueError:
        return None


def _worker_threads(worker) -> int:
    state = getattr(worker, "state", None)
    n = getattr(state, "nthreads", None) or getattr(worker, "nthreads", None) or 1
    return int(n)


def tune_malloc() -> bool:
    """Gives glibc's malloc back its usual large-block limits in this process when
    ``MALLOC_TRIM_THRESHOLD_`` is set — as Dask's nanny sets it (65536) for every worker
    it spawns. That setting also freezes glibc's adaptive mmap threshold at 128 KiB, so
    every large libtorch tensor is mmap'd and page-faulted afresh: atomvae runs about
    half as fast. This sets what the adaptive scheme reaches by itself (mmap threshold
    32 MiB, trim threshold 64 MiB) with ``mallopt``; memory above that still returns
    to the system at once. Returns whether it changed anything (False elsewhere than
    glibc Linux, or without the variable)."""
    if not sys.platform.startswith("linux") or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 64 << 20))


def _prepare() -> None:
    """Sets atomvae's threads to the worker's thread count (and :func:`tune_malloc`)
    once per process: what :class:`AtomvaeWorker` does at start-up, for clusters
    without the plugin."""
    if _STATE["threads"] is not None:
        return
    worker = _worker()
    if worker is None:  # a local dask scheduler: leave the process as it is
        return
    from . import set_threads

    n = _worker_threads(worker)
    set_threads(n)
    _STATE["threads"] = n
    if _STATE["malloc_tuned"] is None:
        _STATE["malloc_tuned"] = tune_malloc()


def _cached(key: tuple, make: Callable[[], object]):
    with _MODELS_LOCK:
        found = _MODELS.get(key)
        if found is None:
            found = make()
            _STATE["loads"] += 1
            _MODELS[key] = found
            while len(_MODELS) > _MODELS_KEPT:
                # dropped, not closed: a task on another thread may still be using it
                # (the handle frees itself when the last reference goes)
                _MODELS.popitem(last=False)
        _MODELS.move_to_end(key)
        return found


def _segmenter(model: str | None, device: str) -> Segmenter:
    """This process's segmentation model for (model, device), loaded once."""
    path = os.path.abspath(os.fspath(model)) if model is not None else None
    return _cached(("segmenter", path, device), lambda: Segmenter(path, device))


def _rvae(path: str, device: str) -> Rvae:
    """This process's rVAE loaded from ``path`` (reloaded when the file changes)."""
    path = os.path.abspath(path)
    stat = os.stat(path)
    return _cached(("rvae", path, stat.st_mtime_ns, stat.st_size, device), lambda: Rvae.load(path, device))


def worker_state() -> dict:
    """This process's atomvae state: pid, threads set, native models loaded so
    far (``client.run(atomvae.dask.worker_state)`` asks every worker)."""
    with _MODELS_LOCK:
        kept = [list(map(str, key)) for key in _MODELS]
    return {
        "pid": os.getpid(),
        "threads": _STATE["threads"],
        "loads": _STATE["loads"],
        "models": kept,
        "malloc_tuned": _STATE["malloc_tuned"],
    }


class AtomvaeWorker(WorkerPlugin):
    """Worker set-up: atomvae's (libtorch's) thread count set to the worker's
    thread count (or ``threads``), malloc's large-block limits restored
    (:func:`tune_malloc`; ``malloc=False`` keeps Dask's), optionally a segmentation
    model loaded ahead of the first task (``preload``). Registered by
    :func:`register` / :func:`connect`; workers that join later get it too."""

    name = "atomvae"

    def __init__(
        self,
        threads: int | None = None,
        preload: bool = False,
        model=None,
        device: str = "auto",
        malloc: bool = True,
    ):
        self.threads = threads
        self.preload = preload
        self.model = os.fspath(model) if model is not None else None
        self.device = device
        self.malloc = malloc

    def setup(self, worker):
        from . import set_threads

        n = int(self.threads or _worker_threads(worker))
        set_threads(n)
        _STATE["threads"] = n
        if _STATE["malloc_tuned"] is None:
            _STATE["malloc_tuned"] = tune_malloc() if self.malloc else False
        if self.preload:
            _segmenter(self.model, self.device)

    def teardown(self, worker):
        with _MODELS_LOCK:
            _MODELS.clear()


def register(client: Client, threads: int | None = None, **plugin) -> None:
    """Registers :class:`AtomvaeWorker` on every worker of ``client``'s cluster."""
    client.register_plugin(AtomvaeWorker(threads, **plugin))


def local_cluster(n_workers: int | None = None, **kwargs) -> LocalCluster:
    """A ``LocalCluster`` of worker processes with one thread each (default: one
    per core). The workers inherit this process's environment (e.g.
    ``ATOMVAE_LIBRARY`` in development)."""
    options = {"processes": True, "threads_per_worker": 1, "dashboard_address": ":0"}
    options.update(kwargs)
    return LocalCluster(n_workers=n_workers or os.cpu_count() or 1, **options)


def connect(scheduler: str = "local", n_workers: int | None = None, **cluster) -> Client:
    """A client for ``scheduler`` — an address (``tcp://host:8786``), a scheduler
    file (``*.json``) or ``"local"`` for a new :func:`local_cluster` (closed with
    the client) — with :class:`AtomvaeWorker` registered."""
    if scheduler == "local":
        made = local_cluster(n_workers, **cluster)
        client = Client(made, set_as_default=False)
        client._atomvae_cluster = made  # closed with the client (see `close`)
    elif scheduler.endswith(".json") and os.path.exists(scheduler):
        client = Client(scheduler_file=scheduler, set_as_default=False)
    else:
        client = Client(scheduler, set_as_default=False)
    register(client)
    return client


def close(client: Client) -> None:
    """Closes a client from :func:`connect` and the local cluster it made, if any."""
    made = getattr(client, "_atomvae_cluster", None)
    client.close()
    if made is not None:
        made.close()


# --------------------------------------------------------------------------------------
# Frames of one movie as a dask array
# --------------------------------------------------------------------------------------


def _frames_per_chunk(height: int, width: int, chunk_mib: float) -> int:
    return max(1, int(chunk_mib * 2**20 // (height * width * 4)))


def _read_frames(path: str, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) of a ``.npy`` or ``.h5`` movie (read on a worker)."""
    if path.lower().endswith(".npy"):
        return np.ascontiguousarray(np.load(path, mmap_mode="r")[start:stop], dtype=np.float32)
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is optional: read the whole movie
        with AnalysisFile(path) as movie:
            return np.ascontiguousarray(movie.frames[start:stop])
    try:
        handle = h5py.File(path, "r", locking=False)
    except TypeError:  # pragma: no cover - h5py < 3.5
        handle = h5py.File(path, "r")
    with handle:
        return np.ascontiguousarray(handle["frames"][start:stop], dtype=np.float32)


def movie_frames(path: str | os.PathLike, chunk_mib: float = CHUNK_MIB) -> tuple[da.Array, float | None]:
    """A movie on disk as a lazy ``(frames, H, W)`` float32 dask array in frame
    blocks of about ``chunk_mib`` MiB, each read by the worker that needs it, and
    its pixel size (Å/px; None for ``.npy``). Takes ``.npy`` and atomvae ``.h5``
    movies/analysis files (h5py reads the blocks if installed)."""
    path = os.path.abspath(os.fspath(path))
    if path.lower().endswith(".npy"):
        header = np.load(path, mmap_mode="r")
        if header.ndim != 3:
            raise InvalidArgument(f"{path} holds an array of shape {header.shape}, not (frames, H, W)")
        shape, pixel_size = header.shape, None
    elif path.lower().endswith((".h5", ".hdf5")):
        with AnalysisFile(path) as movie:
            shape, pixel_size = movie.shape, movie.pixel_size
    else:
        raise InvalidArgument(f"{path}: movie_frames reads .npy and .h5 movies (convert others with atomvae import)")
    count, height, width = (int(v) for v in shape)
    step = _frames_per_chunk(height, width, chunk_mib)
    token = tokenize(path, os.stat(path).st_mtime_ns, step)
    blocks = [
        da.from_delayed(
            dask.delayed(_read_frames, pure=True, name=f"atomvae-read-{token}-{start}")(
                path, start, min(start + step, count)
            ),
            shape=(min(start + step, count) - start, height, width),
            dtype=np.float32,
        )
        for start in range(0, count, step)
    ]
    return da.concatenate(blocks, axis=0), pixel_size


def as_frames(frames, chunk_mib: float | None = None) -> da.Array:
    """Frames (numpy or dask, (n, H, W) or (H, W)) as a float32 dask array whose
    chunks hold whole frames; numpy input (and dask input when ``chunk_mib`` is
    given) is cut into blocks of about ``chunk_mib`` MiB (default 128)."""
    if not isinstance(frames, da.Array):
        array = np.asarray(frames)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or 0 in array.shape:
            raise InvalidArgument(f"frames must be (frames, H, W), got shape {array.shape}")
        step = _frames_per_chunk(array.shape[1], array.shape[2], chunk_mib or CHUNK_MIB)
        return da.from_array(array.astype(np.float32, copy=False), chunks=(step, -1, -1))
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or 0 in frames.shape:
        raise InvalidArgument(f"frames must be (frames, H, W), got shape {frames.shape}")
    if frames.dtype != np.float32:
        frames = frames.astype(np.float32)
    if chunk_mib is not None:
        frames = frames.rechunk((_frames_per_chunk(frames.shape[1], frames.shape[2], chunk_mib), -1, -1))
    elif len(frames.chunks[1]) > 1 or len(frames.chunks[2]) > 1:
        frames = frames.rechunk({1: -1, 2: -1})
    return frames


def _segment_block(block: np.ndarray, pixel_size: float, model: str | None, device: str, classes: int) -> np.ndarray:
    _prepare()
    if block.shape[0] == 0:
        return np.empty((0, classes, *block.shape[1:]), np.float32)
    segmenter = _segmenter(model, device)
    if segmenter.classes != classes:
        raise InvalidArgument(f"the model predicts {segmenter.classes} classes; the graph was built for {classes}")
    return segmenter.segment(block, pixel_size)


def segment(
    frames,
    pixel_size: float,
    *,
    model: str | os.PathLike | None = None,
    device: str = "auto",
    classes: int | None = None,
    chunk_mib: float | None = None,
) -> da.Array:
    """Lazy class probabilities ``(frames, classes, H, W)`` of frames (a dask or
    numpy ``(frames, H, W)`` array, see :func:`as_frames`), one task per frame
    block. ``model``: a segmentation model file (None: the embedded model), loaded
    once per worker process when the first block runs — never while the graph is
    built, which is why ``classes`` must be given for a model file (the embedded
    model has 3)."""
    frames = as_frames(frames, chunk_mib)
    if classes is None:
        if model is not None:
            raise InvalidArgument("give classes= for a model file (the graph is built without loading the model)")
        classes = EMBEDDED_CLASSES
    model = os.path.abspath(os.fspath(model)) if model is not None else None
    _, height, width = frames.shape
    return frames.map_blocks(
        _segment_block,
        pixel_size=float(pixel_size),
        model=model,
        device=device,
        classes=int(classes),
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0), np.float32),
        new_axis=1,
        chunks=(frames.chunks[0], (int(classes),), (height,), (width,)),
        token="atomvae-segment",
    )


def _atoms_block(
    probabilities: np.ndarray, frames, first_frame: int, pixel_size: float, threshold: float, border: float
):
    _prepare()
    if probabilities.shape[0] == 0:
        return np.empty(0, ATOM_DTYPE)
    found = _find_atoms(probabilities, pixel_size, threshold, border, frames=frames)
    found["frame"] += np.uint32(first_frame)
    return found


def _concatenate_atoms(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, ATOM_DTYPE)


def find_atoms(probabilities: da.Array, pixel_size: float, threshold: float = 0.5, border: float = 0.0, frames=None):
    """Atoms in lazy class probabilities ``(frames, classes, H, W)``: a
    ``dask.delayed`` whose result is the atom table of the whole movie (numpy
    structured array, fields ``frame, y, x, class, confidence``; frames numbered
    over the movie, rows in frame order) — the same table
    :func:`atomvae.find_atoms` gives on the whole stack. One task per frame block,
    run where that block's probabilities are. With ``frames`` (the lazy frames the
    probabilities came from) each Si is checked against the carbon around it."""
    if probabilities.ndim != 4:
        raise InvalidArgument(f"probabilities must be (frames, classes, H, W), got {probabilities.ndim}-D")
    if any(len(c) > 1 for c in probabilities.chunks[1:]):
        probabilities = probabilities.rechunk({1: -1, 2: -1, 3: -1})
    blocks = probabilities.to_delayed().ravel()
    starts = np.concatenate([[0], np.cumsum(probabilities.chunks[0])[:-1]]).astype(int)
    if frames is None:
        frame_blocks = [None] * len(blocks)
    else:
        frames = as_frames(frames)
        if frames.shape != (probabilities.shape[0], *probabilities.shape[2:]):
            raise InvalidArgument(f"frames {frames.shape} do not match probabilities {probabilities.shape}")
        frame_blocks = frames.rechunk((probabilities.chunks[0], -1, -1)).to_delayed().ravel()
    parts = [
        dask.delayed(_atoms_block, pure=True)(
            block, frame_block, int(start), float(pixel_size), float(threshold), float(border)
        )
        for block, frame_block, start in zip(blocks, frame_blocks, starts, strict=True)
    ]
    return dask.delayed(_concatenate_atoms, pure=True)(*parts)


def segment_atoms(
    frames,
    pixel_size: float,
    *,
    threshold: float = 0.5,
    border: float = 0.0,
    model: str | os.PathLike | None = None,
    device: str = "auto",
    classes: int | None = None,
    chunk_mib: float | None = None,
):
    """Segmentation and atom finding over frames in one graph: ``(probabilities,
    atoms)`` — the lazy probabilities (:func:`segment`) and the lazy atom table
    (:func:`find_atoms`). ``dask.compute(probabilities, atoms)`` or
    ``client.compute(atoms)`` segment each block once."""
    frames = as_frames(frames, chunk_mib)
    probabilities = segment(frames, pixel_size, model=model, device=device, classes=classes)
    return probabilities, find_atoms(probabilities, pixel_size, threshold, border, frames=frames)


def atoms_dataframe(atoms: np.ndarray):
    """An atom table as a pandas DataFrame (columns ``frame, y, x, class, confidence``)."""
    import pandas as pd

    return pd.DataFrame({name: atoms[name] for name in atoms.dtype.names})


# --------------------------------------------------------------------------------------
# Many movies
# --------------------------------------------------------------------------------------

# Phases of atomvae.analyze's progress → (step index, steps) for one movie's overall fraction.
_PHASES = {
    "import frames": 0,
    "segment": 1,
    "atoms": 2,
    "subimages": 3,
    "train rVAE": 4,
    "train-rvae": 4,
    "encode": 5,
    "latent analysis": 6,
    "analysis": 6,
}
_PHASE_COUNT = 7


@dataclasses.dataclass
class MovieResult:
    """What :func:`analyze_many` did with one movie. ``status``: ``"ok"`` (the
    analysis file is complete at ``out``), ``"skipped"`` (it was already there),
    ``"error"`` (``error`` says why; nothing at ``out``) or ``"cancelled"``."""

    movie: str
    out: str
    status: str
    error: str | None = None
    error_type: str | None = None
    seconds: float | None = None
    worker: str | None = None
    pid: int | None = None
    frames: int | None = None
    atoms: int | None = None
    windows: int | None = None
    steps: list[str] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


class _Reporter:
    """A worker-side progress function: throttled progress events for the client."""

    def __init__(self, run: str, index: int, steps: int = _PHASE_COUNT, phases: bool = True):
        self.worker = _worker()
        self.run, self.index, self.steps, self.phases = run, index, steps, phases
        self.step, self.last, self.phase = 0, 0.0, None

    def __call__(self, fraction: float, phase: str, step: int | None = None):
        if step is not None:
            self.step = step
        elif self.phases and phase in _PHASES:
            self.step = _PHASES[phase]
        now = time.monotonic()
        if self.worker is not None and (phase != self.phase or now - self.last > 0.5 or fraction >= 1.0):
            self.phase, self.last = phase, now
            overall = min(1.0, (self.step + max(0.0, min(1.0, float(fraction)))) / self.steps)
            self.worker.log_event(
                _topic(self.run), {"run": self.run, "index": self.index, "fraction": overall, "phase": phase}
            )
        return True


def _topic(run: str) -> str:
    return f"{PROGRESS_TOPIC}-{run}"


def _part_path(out: str) -> str:
    """A temporary name beside ``out`` for one attempt (unique, hidden, same folder)."""
    head, name = os.path.split(out)
    return os.path.join(head, f".{name}.part-{uuid.uuid4().hex[:12]}.h5")


def _stale_parts(out: str) -> list[str]:
    """Temporary files of attempts at ``out`` (ours and the library's own temp
    files of them), e.g. left by a killed worker."""
    head, name = os.path.split(out)
    pattern = glob.escape(os.path.join(head, f".{name}.part-"))
    library = glob.escape(os.path.join(head, f"..{name}.part-"))
    return glob.glob(pattern + "*") + glob.glob(library + "*")


def _remove_quietly(path: str) -> None:
    """Removes a file, or a folder of part files (``<name>.parts``) with its files."""
    try:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
    except FileNotFoundError:
        pass


_ORDER = {step: k for k, step in enumerate(("import", *STEPS))}


def _counts(file: AnalysisFile) -> dict:
    shapes = {d["path"]: d["shape"] for d in file.contents["datasets"]}
    return {
        "frames": int(file.shape[0]),
        "atoms": int(shapes["/atoms/frame"][0]) if "/atoms/frame" in shapes else None,
        "windows": int(shapes["/subimages/windows"][0]) if "/subimages/windows" in shapes else None,
        "steps": sorted(file.provenance, key=lambda step: (_ORDER.get(step, -1), step)),
    }


def _analyze_one(
    run: str,
    index: int,
    movie: str,
    out: str,
    pixel_size: float | None,
    preset: str,
    settings: dict | None,
    model: str | None,
    device: str,
    until: str | None,
) -> dict:
    """One movie into one analysis file, on a worker: written under a temporary
    name and renamed onto ``out`` only when complete."""
    _prepare()
    started = time.perf_counter()
    worker = _worker()
    result = {"worker": worker.address if worker is not None else None, "pid": os.getpid()}
    part = _part_path(out)
    reporter = _Reporter(run, index)
    try:
        segmenter = _segmenter(model, device)
        if until is None:
            file = analyze(
                movie,
                part,
                pixel_size=pixel_size,
                preset=preset,
                settings=settings,
                segmenter=segmenter,
                device=device,
                progress=reporter,
            )
        else:
            steps = STEPS[: STEPS.index(until) + 1]
            reporter.steps = len(steps) + 1
            file = import_movie(movie, part, pixel_size=pixel_size, progress=lambda f, p: reporter(f, p, 0))
            for k, step in enumerate(steps, start=1):
                file.run(
                    step,
                    preset=preset,
                    settings=settings,
                    segmenter=segmenter,
                    device=device,
                    progress=lambda f, p, k=k: reporter(f, p, k),
                )
        with file:
            result.update(_counts(file))
        rename_analysis(part, out)  # with its part files (the large arrays)
        result.update(status="ok")
    except Exception as exc:  # noqa: BLE001 - reported per movie, the others go on
        result.update(status="error", error=str(exc) or repr(exc), error_type=type(exc).__name__)
    finally:
        _remove_quietly(part)
        _remove_quietly(part + ".parts")
        for stray in _stale_parts(out):  # the library's temp files of this attempt
            if os.path.basename(stray).startswith(f".{os.path.basename(part)}.tmp-{os.getpid()}-"):
                _remove_quietly(stray)
    result["seconds"] = time.perf_counter() - started
    return result


def _complete(out: str, until: str | None) -> dict | None:
    """Counts of an existing analysis file that already holds the last wanted step."""
    try:
        with AnalysisFile(out) as file:
            counts = _counts(file)
    except Exception:  # noqa: BLE001 - missing or unreadable: make it again
        return None
    return counts if (until or "analysis") in counts["steps"] else None


def output_paths(paths: Sequence, out_dir: str | os.PathLike | None = None, suffix: str = ANALYSIS_SUFFIX) -> list[str]:
    """Where :func:`analyze_many` writes each movie's analysis file: beside the
    movie, or in ``out_dir``, named ``<movie stem><suffix>``."""
    outs = []
    for path in paths:
        movie = os.path.abspath(os.fspath(path))
        folder = os.path.abspath(os.fspath(out_dir)) if out_dir is not None else os.path.dirname(movie)
        outs.append(os.path.join(folder, Path(movie).stem + suffix))
    clashes = {o for o in outs if outs.count(o) > 1}
    if clashes:
        raise InvalidArgument(f"movies with the same name would write the same analysis file: {sorted(clashes)}")
    return outs


class _Events:
    """Client side of the workers' progress events for one run."""

    def __init__(self, client: Client, run: str, count: int):
        self.client, self.run = client, run
        self.fractions = [0.0] * count
        self.phases: list[str] = [""] * count
        self.lock = threading.Lock()
        self.subscribed = False
        try:
            client.subscribe_topic(_topic(run), self._handle)
            self.subscribed = True
        except Exception:  # noqa: BLE001 - progress then moves per finished task only
            pass

    def _handle(self, event):
        message = event[1] if isinstance(event, (tuple, list)) else event
        if not isinstance(message, dict) or message.get("run") != self.run:
            return
        with self.lock:
            index = int(message["index"])
            if 0 <= index < len(self.fractions):
                self.fractions[index] = float(message["fraction"])
                self.phases[index] = str(message.get("phase", ""))

    def finish(self, index: int) -> None:
        with self.lock:
            self.fractions[index] = 1.0
            self.phases[index] = "done"

    def overall(self) -> float:
        with self.lock:
            return sum(self.fractions) / max(1, len(self.fractions))

    def close(self) -> None:
        if self.subscribed:
            try:
                self.client.unsubscribe_topic(_topic(self.run))
            except Exception:  # noqa: BLE001 - the client may be closing
                pass


def _future_result(future) -> dict:
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        return {"status": "cancelled", "error": "cancelled"}
    try:
        exc = future.exception()
    except Exception as err:  # noqa: BLE001 - e.g. a lost scheduler
        exc = err
    return {"status": "error", "error": str(exc) or repr(exc), "error_type": type(exc).__name__}


def _gather_as_completed(futures: list, events: _Events, progress: Progress | None, poll: float, label) -> list:
    """Waits for every future (in any order) with progress; a progress that returns
    False cancels the futures not finished yet. Results come back in input order."""
    results: list = [None] * len(futures)
    pending = dict(enumerate(futures))
    done_count = 0
    while pending:
        finished = [i for i, f in pending.items() if f.done()]
        for i in finished:
            results[i] = _future_result(pending.pop(i))
            events.finish(i)
            done_count += 1
        if progress is not None and (finished or events.subscribed):
            answer = progress(events.overall(), label(done_count, len(futures)))
            if answer is not None and not answer:
                for i, f in pending.items():
                    f.cancel()
                    results[i] = {"status": "cancelled", "error": "cancelled"}
                pending.clear()
                break
        if pending and not finished:
            time.sleep(poll)
    return results


def task_key(run: str, index: int, movie: str) -> str:
    """The Dask key of movie ``index``'s task in run ``run`` (as seen in
    ``client.processing()`` and the dashboard)."""
    return f"atomvae-analyze-{index}-{Path(movie).name}-{run[:8]}"


def analyze_many(
    paths: Sequence[str | os.PathLike],
    client: Client,
    out_dir: str | os.PathLike | None = None,
    settings: dict | None = None,
    *,
    preset: str = "recipe",
    pixel_size: float | Sequence[float | None] | None = None,
    until: str | None = None,
    model: str | os.PathLike | None = None,
    device: str = "auto",
    skip_existing: bool = False,
    progress: Progress | None = None,
    poll: float = 0.2,
) -> list[MovieResult]:
    """Analyses each movie (``.npy``, ``.tif``, ``.h5``) into its own analysis
    file — beside the movie or in ``out_dir``, named ``<stem>.analysis.h5`` (see
    :func:`output_paths`) — one task per movie on ``client``'s workers.

    - ``settings``/``preset``: as for :func:`atomvae.analyze`; ``pixel_size`` one
      value for all movies, one per movie, or None (from each file).
    - ``until``: stop after that step (e.g. ``"subimages"`` to prepare
      :func:`rvae_across` without per-movie rVAEs: :func:`atomvae.import_movie`,
      then the steps); None runs every step through :func:`atomvae.analyze`.
    - ``model``: a segmentation model file (None: embedded), one per worker process.
    - Each file is written under a temporary name and renamed when complete: a
      failed movie or a killed worker never leaves a partial analysis file (the
      task is retried on another worker; stray temporary files are removed at the end).
    - ``progress(fraction, message)`` is called on this thread about every ``poll``
      s with the fraction done over all movies; returning False cancels the movies
      not finished yet.

    Returns one :class:`MovieResult` per movie, in the order of ``paths``; a
    failing movie never stops the others.
    """
    movies = [os.path.abspath(os.fspath(p)) for p in paths]
    outs = output_paths(movies, out_dir)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    if until is not None and until not in STEPS:
        raise InvalidArgument(f"until must be one of {STEPS}, not {until!r}")
    if pixel_size is None or isinstance(pixel_size, (int, float)):
        sizes = [pixel_size] * len(movies)
    else:
        sizes = list(pixel_size)
        if len(sizes) != len(movies):
            raise InvalidArgument(f"{len(sizes)} pixel sizes for {len(movies)} movies")
    model = os.path.abspath(os.fspath(model)) if model is not None else None
    run = uuid.uuid4().hex
    settings = json.loads(json.dumps(settings)) if settings else None

    results: list[dict | None] = [None] * len(movies)
    indices = []
    for i, out in enumerate(outs):
        counts = _complete(out, until) if skip_existing else None
        if counts is not None:
            results[i] = {"status": "skipped", **counts}
        else:
            indices.append(i)
    futures = [
        client.submit(
            _analyze_one,
            run,
            job,
            movies[i],
            outs[i],
            sizes[i],
            preset,
            settings,
            model,
            device,
            until,
            key=task_key(run, i, movies[i]),
            pure=False,
        )
        for job, i in enumerate(indices)
    ]

    events = _Events(client, run, len(futures))
    try:
        done = _gather_as_completed(futures, events, progress, poll, lambda n, total: f"analysed {n}/{total} movies")
    finally:
        events.close()
    for i, found in zip(indices, done, strict=True):
        results[i] = found
    if all(r["status"] != "cancelled" for r in results):
        for out in outs:  # every attempt has ended: what is left comes from killed workers
            for stray in _stale_parts(out):
                _remove_quietly(stray)
    if progress is not None:
        progress(1.0, f"analysed {len(movies)}/{len(movies)} movies")
    fields = {f.name for f in dataclasses.fields(MovieResult)}
    return [
        MovieResult(movie=movie, out=out, **{k: v for k, v in r.items() if k in fields and k not in ("movie", "out")})
        for movie, out, r in zip(movies, outs, results, strict=True)
    ]


# --------------------------------------------------------------------------------------
# One rVAE across movies
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class AcrossResult:
    """What :func:`rvae_across` made: the model file, the combined table, and per
    movie (``movies``: dicts with ``analysis``, ``latents``, ``windows``,
    ``status``, ``error``)."""

    model: str
    table: str
    rows: int
    columns: list[str]
    windows_trained: int
    movies: list[dict]
    training: dict | None = None


def _windows_dataset(path: str):
    """(count, window) of an analysis file's windows, without reading them."""
    with AnalysisFile(path) as file:
        shapes = {d["path"]: d["shape"] for d in file.contents["datasets"]}
    if "/subimages/windows" not in shapes:
        raise InvalidArgument(f"{path} has no windows yet (run the subimages step)")
    count, height, width = shapes["/subimages/windows"]
    return int(count), int(width)


def _window_rows(path: str, rows: np.ndarray | None, batch: int = 16384):
    """Windows of an analysis file — all (``rows`` None) or the given sorted rows —
    in batches (h5py reads slices when installed; else the dataset is read whole)."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is optional
        with AnalysisFile(path) as file:
            windows = file.windows
        yield windows if rows is None else windows[rows]
        return
    try:
        handle = h5py.File(path, "r", locking=False)
    except TypeError:  # pragma: no cover - h5py < 3.5
        handle = h5py.File(path, "r")
    with handle:
        dataset = handle["subimages/windows"]
        count = dataset.shape[0]
        for start in range(0, count, batch):
            stop = min(start + batch, count)
            if rows is None:
                yield np.asarray(dataset[start:stop], np.float32)
                continue
            wanted = rows[(rows >= start) & (rows < stop)]
            if len(wanted):
                yield np.asarray(dataset[start:stop], np.float32)[wanted - start]


def _count_windows(path: str) -> dict:
    _prepare()
    try:
        count, window = _windows_dataset(path)
        return {"status": "ok", "windows": count, "window": window}
    except Exception as exc:  # noqa: BLE001 - reported per movie
        return {"status": "error", "error": str(exc) or repr(exc), "error_type": type(exc).__name__}


def _sample_windows(path: str, rows: np.ndarray | None) -> np.ndarray:
    _prepare()
    parts = list(_window_rows(path, rows))
    return np.concatenate(parts) if parts else np.empty((0, 0, 0), np.float32)


def _train_across(run: str, model_path: str, preset: str, settings: dict | None, device: str, *parts) -> dict:
    _prepare()
    windows = np.concatenate([p for p in parts if len(p)])
    reporter = _Reporter(run, 0, steps=1, phases=False)
    settings = settings or {}
    model = Rvae.train(
        windows,
        preset=preset,
        rvae=settings.get("rvae"),
        training=settings.get("training"),
        device=device,
        progress=reporter,
    )
    with model:
        model.save(model_path)
        return {"windows": int(len(windows)), "training": model.training, "config": model.config}


def _write_npz(path: str, arrays: dict) -> None:
    """``arrays`` into ``path`` atomically (temporary file in the same folder, flushed, renamed)."""
    head, name = os.path.split(path)
    part = os.path.join(head, f".{name}.part-{uuid.uuid4().hex[:12]}")
    try:
        with open(part, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    finally:
        _remove_quietly(part)


def _encode_movie(analysis: str, model_path: str, latents_path: str, device: str, batch: int) -> dict:
    """A movie's windows encoded by the shared model, written beside it; returns
    the rows of the combined table."""
    _prepare()
    model = _rvae(model_path, device)
    means, logvars = [], []
    for windows in _window_rows(analysis, None, batch):
        mean, logvar = model.encode(windows)
        means.append(mean)
        logvars.append(logvar)
    columns = model.latent_columns
    k = len(columns)
    mean = np.concatenate(means) if means else np.empty((0, k), np.float32)
    logvar = np.concatenate(logvars) if logvars else np.empty((0, k), np.float32)
    with AnalysisFile(analysis) as file:
        where = file.window_atoms
    arrays = {
        "mean": mean,
        "logvar": logvar,
        "columns": np.array(columns),
        "atom_index": where["atom_index"],
        "frame": where["frame"],
        "y": where["y"],
        "x": where["x"],
        "class": where["class"],
        "model": np.array(os.path.abspath(model_path)),
        "analysis": np.array(os.path.abspath(analysis)),
    }
    _write_npz(latents_path, arrays)
    return arrays


def latents_path(analysis: str | os.PathLike, suffix: str = LATENTS_SUFFIX) -> str:
    """Where :func:`rvae_across` writes a movie's latents: beside its analysis file
    (``movie.analysis.h5`` → ``movie.latents.npz``)."""
    analysis = os.path.abspath(os.fspath(analysis))
    name = os.path.basename(analysis)
    stem = name[: -len(ANALYSIS_SUFFIX)] if name.endswith(ANALYSIS_SUFFIX) else Path(name).stem
    return os.path.join(os.path.dirname(analysis), stem + suffix)


def _sample_rows(counts: list[int], sample: int | None, seed: int) -> list[np.ndarray | None]:
    """Rows of each movie's windows in a seeded sample of ``sample`` windows of all
    of them (None: all). Drawn here, so it depends on nothing but counts and seed."""
    total = sum(counts)
    if sample is None or sample >= total:
        return [None] * len(counts)
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=int(sample), replace=False))
    rows, start = [], 0
    for count in counts:
        rows.append(chosen[(chosen >= start) & (chosen < start + count)] - start)
        start += count
    return rows


def rvae_across(
    analyses: Sequence[str | os.PathLike | MovieResult],
    client: Client,
    *,
    model: str | os.PathLike | None = None,
    table: str | os.PathLike | None = None,
    preset: str = "recipe",
    settings: dict | None = None,
    sample: int | None = None,
    seed: int = 0,
    device: str = "auto",
    batch: int = 16384,
    train_resources: dict | None = None,
    progress: Progress | None = None,
    poll: float = 0.2,
) -> AcrossResult:
    """One rVAE for many movies. The windows of every analysis file (after the
    ``subimages`` step; :class:`MovieResult` s that failed are passed over) — all
    of them, or ``sample`` drawn with ``seed`` — train one rVAE on one worker
    (``settings``' ``rvae``/``training`` parts over ``preset``; the training seed
    is ``settings["training"]["seed"]``, default 0) saved to ``model``; then each
    movie's windows are encoded on the workers and written beside its analysis
    file (:func:`latents_path`: ``mean``, ``logvar``, ``columns``, ``atom_index``,
    ``frame``, ``y``, ``x``, ``class``). The combined table ``table`` (``.npz``;
    ``.csv`` also works) holds every window of every movie: ``movie`` (index into
    ``movies``), ``frame``, ``atom``, ``class``, ``y``, ``x`` and one column per
    latent (``angle``, ``dx``, ``dy``, ``z1`` …), plus ``mean``/``logvar`` and
    ``columns`` in the ``.npz``. Defaults: ``rvae-across.h5`` and
    ``latents-across.npz`` beside the first analysis file.

    The same inputs, sample and seeds give the same model on 1 worker as on N
    (one process trains; windows are joined in the order of ``analyses``).
    ``train_resources`` (e.g. ``{"train": 1}``) sends the training task to workers
    started with those Dask resources (say, a GPU worker).
    """
    named = []
    for item in analyses:
        if isinstance(item, MovieResult):
            entry = {"analysis": os.path.abspath(item.out), "movie": item.movie}
            if not item.ok:
                entry.update(status="error", error=f"not analysed: {item.error}", error_type=item.error_type)
        else:
            entry = {"analysis": os.path.abspath(os.fspath(item))}
        named.append(entry)
    if not named:
        raise InvalidArgument("no analysis files")
    first_dir = os.path.dirname(named[0]["analysis"])
    model_path = os.path.abspath(os.fspath(model)) if model is not None else os.path.join(first_dir, "rvae-across.h5")
    table_path = (
        os.path.abspath(os.fspath(table)) if table is not None else os.path.join(first_dir, "latents-across.npz")
    )
    run = uuid.uuid4().hex
    settings = json.loads(json.dumps(settings)) if settings else None

    def report(fraction: float, phase: str) -> None:
        if progress is not None:
            answer = progress(fraction, phase)
            if answer is not None and not answer:
                from .errors import Cancelled

                raise Cancelled("cancelled by the progress function")

    # 1. How many windows each movie has (their size must agree).
    live = [e for e in named if e.get("status") != "error"]
    report(0.0, "counting windows")
    counted = client.gather([client.submit(_count_windows, e["analysis"], pure=False) for e in live])
    for entry, found in zip(live, counted, strict=True):
        entry.update(found)
    live = [e for e in live if e["status"] == "ok" and e["windows"] > 0]
    for entry in named:
        if entry.get("status") == "ok" and entry["windows"] == 0:
            entry.update(status="error", error="no windows", error_type="InvalidArgument")
    if not live:
        raise InvalidArgument("no movie has windows to train on: " + "; ".join(str(e.get("error")) for e in named))
    sizes = {e["window"] for e in live}
    if len(sizes) > 1:
        raise InvalidArgument(
            f"the movies' windows differ in size ({sorted(sizes)} px): give every movie the same "
            'settings["windows"]["size_px"] (or the same pixel size)'
        )

    # 2. The training windows, gathered from the workers that read them, joined in movie order.
    rows = _sample_rows([e["windows"] for e in live], sample, seed)
    parts = [client.submit(_sample_windows, e["analysis"], r, pure=False) for e, r in zip(live, rows, strict=True)]

    # 3. One rVAE, trained by one worker.
    events = _Events(client, run, 1)
    try:
        trained_future = client.submit(
            _train_across, run, model_path, preset, settings, device, *parts, pure=False, resources=train_resources
        )
        _gather_as_completed(
            [trained_future],
            events,
            (lambda f, m: report(0.8 * f, "training the rVAE")) if progress else None,
            poll,
            lambda n, t: "",
        )
    finally:
        events.close()
    trained = trained_future.result()  # raises the worker's error: nothing to encode without a model
    del parts, trained_future

    # 4. Every movie's windows encoded, spread over the workers; latents beside each analysis file.
    encoded = [
        client.submit(_encode_movie, e["analysis"], model_path, latents_path(e["analysis"]), device, batch, pure=False)
        for e in live
    ]
    quiet = _Events(client, run + "-encode", len(encoded))
    try:
        outcomes = _gather_as_completed(
            encoded,
            quiet,
            (lambda f, m: report(0.8 + 0.2 * f, m)) if progress else None,
            poll,
            lambda n, t: f"encoded {n}/{t} movies",
        )
    finally:
        quiet.close()

    # 5. The combined table.
    tables, columns = [], None
    for movie_index, (entry, outcome) in enumerate(zip(live, outcomes, strict=True)):
        if outcome.get("status") in ("error", "cancelled"):
            entry.update({k: outcome.get(k) for k in ("status", "error", "error_type")})
            continue
        entry.update(status="ok", latents=latents_path(entry["analysis"]))
        columns = [str(c) for c in outcome["columns"]]
        tables.append((movie_index, outcome))
    if not tables:
        raise InvalidArgument("no movie was encoded: " + "; ".join(str(e.get("error")) for e in live))
    combined = {
        "movie": np.concatenate([np.full(len(t["frame"]), i, np.uint32) for i, t in tables]),
        "frame": np.concatenate([t["frame"] for _, t in tables]),
        "atom": np.concatenate([t["atom_index"] for _, t in tables]),
        "class": np.concatenate([t["class"] for _, t in tables]),
        "y": np.concatenate([t["y"] for _, t in tables]),
        "x": np.concatenate([t["x"] for _, t in tables]),
    }
    mean = np.concatenate([t["mean"] for _, t in tables])
    logvar = np.concatenate([t["logvar"] for _, t in tables])
    for j, name in enumerate(columns):
        combined[name] = mean[:, j]
    movie_names = np.array([e["analysis"] for e in live])
    if table_path.lower().endswith(".csv"):
        frame = _columns_dataframe(combined)
        frame.insert(1, "analysis", movie_names[combined["movie"]])
        head, name = os.path.split(table_path)
        part = os.path.join(head, f".{name}.part-{uuid.uuid4().hex[:12]}")
        try:
            frame.to_csv(part, index=False)
            os.replace(part, table_path)
        finally:
            _remove_quietly(part)
    else:
        _write_npz(
            table_path,
            {**combined, "mean": mean, "logvar": logvar, "columns": np.array(columns), "movies": movie_names},
        )
    report(1.0, f"encoded {len(tables)}/{len(live)} movies")
    return AcrossResult(
        model=model_path,
        table=table_path,
        rows=int(len(mean)),
        columns=columns,
        windows_trained=trained["windows"],
        movies=named,
        training=trained.get("training"),
    )


def _columns_dataframe(columns: dict):
    """A dict of equal-length 1-D arrays (e.g. a combined latents table) as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame({k: v for k, v in columns.items() if np.ndim(v) == 1})


def load_table(path: str | os.PathLike):
    """A combined latents table written by :func:`rvae_across` as a pandas
    DataFrame (with an ``analysis`` column naming each row's analysis file)."""
    import pandas as pd

    path = os.fspath(path)
    if path.lower().endswith(".csv"):
        return pd.read_csv(path)
    with np.load(path) as data:
        columns = [str(c) for c in data["columns"]]
        frame = pd.DataFrame({k: data[k] for k in ["movie", "frame", "atom", "class", "y", "x", *columns]})
        frame.insert(1, "analysis", data["movies"][data["movie"]])
    return frame


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _settings_argument(text: str | None) -> dict | None:
    if not text:
        return None
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("settings must be a JSON object")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m atomvae.dask",
        description="Analyse many STEM movies with atomvae on a Dask cluster: one analysis file per movie, "
        "optionally one rVAE across all of them (docs/DASK.md).",
    )
    parser.add_argument("movies", nargs="+", help="movie files (.npy, .tif, .h5)")
    parser.add_argument(
        "--scheduler", default="local", help="scheduler address (tcp://host:8786), scheduler file (.json) or 'local'"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes of a local cluster (default: cores)"
    )
    parser.add_argument("--out-dir", default=None, help="folder of the analysis files (default: beside each movie)")
    parser.add_argument("--pixel-size", type=float, default=None, help="Å/px (default: from each file)")
    parser.add_argument("--preset", default="recipe", choices=["recipe", "paper"])
    parser.add_argument("--settings", default=None, help="JSON settings over the preset, or @file.json")
    parser.add_argument("--until", default=None, choices=STEPS, help="stop each movie after this step")
    parser.add_argument("--model", default=None, help="segmentation model file (default: the embedded model)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--skip-existing", action="store_true", help="keep analysis files that are already complete")
    parser.add_argument("--across", action="store_true", help="then train one rVAE on the windows of all movies")
    parser.add_argument("--sample", type=int, default=None, help="windows drawn to train it (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that draw")
    parser.add_argument("--rvae-model", default=None, help="where to save it (default: rvae-across.h5)")
    parser.add_argument(
        "--table", default=None, help="combined latents table, .npz or .csv (default: latents-across.npz)"
    )
    parser.add_argument("--json", default=None, help="write the per-movie results as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m atomvae.dask``: exit status 0 when every movie succeeded, 1 otherwise."""
    args = _parser().parse_args(argv)
    settings = _settings_argument(args.settings)

    def show(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"\r{100 * fraction:5.1f} %  {message}    ", end="", file=sys.stderr, flush=True)

    client = connect(args.scheduler, args.workers)
    try:
        started = time.perf_counter()
        results = analyze_many(
            args.movies,
            client,
            args.out_dir,
            settings,
            preset=args.preset,
            pixel_size=args.pixel_size,
            until=args.until,
            model=args.model,
            device=args.device,
            skip_existing=args.skip_existing,
            progress=show,
        )
        if not args.quiet:
            print(file=sys.stderr)
        for r in results:
            detail = f"{r.atoms} atoms, {r.windows} windows, {r.seconds or 0:.1f} s" if r.ok else r.error
            print(f"{r.status:9s} {r.movie} → {r.out}: {detail}")
        summary: dict = {"movies": [dataclasses.asdict(r) for r in results]}
        if args.across:
            across = rvae_across(
                [r for r in results if r.ok],
                client,
                model=args.rvae_model,
                table=args.table,
                preset=args.preset,
                settings=settings,
                sample=args.sample,
                seed=args.seed,
                device=args.device,
                progress=show,
            )
            if not args.quiet:
                print(file=sys.stderr)
            print(f"rVAE across {len(across.movies)} movies ({across.windows_trained} windows) → {across.model}")
            print(f"combined table: {across.rows} rows → {across.table}")
            summary["across"] = dataclasses.asdict(across)
        summary["seconds"] = time.perf_counter() - started
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        return 0 if all(r.ok for r in results) else 1
    finally:
        close(client)


__all__ = [
    "AcrossResult",
    "AtomvaeWorker",
    "MovieResult",
    "analyze_many",
    "as_frames",
    "atoms_dataframe",
    "close",
    "connect",
    "find_atoms",
    "latents_path",
    "load_table",
    "local_cluster",
    "main",
    "movie_frames",
    "output_paths",
    "register",
    "rvae_across",
    "segment",
    "segment_atoms",
    "task_key",
    "tune_malloc",
    "worker_state",
]

if __name__ == "__main__":
    # Run through the imported module so that the functions sent to workers pickle
    # as atomvae.dask.*, not __main__.*.
    from atomvae.dask import main as _main

    sys.exit(_main())
