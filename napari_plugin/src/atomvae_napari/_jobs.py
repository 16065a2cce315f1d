"""The long work, as generators of ``(fraction, phase)`` that return their result:
napari's thread_worker drives them (each yield moves the progress bar), tests
iterate them directly. Each runs atomvae's steps on a session analysis file in a
temporary folder; cancelling makes atomvae's progress callback return False, so the
native call stops with ``atomvae.Cancelled`` and the file keeps its last complete step."""

from __future__ import annotations

import atexit
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Generator

Progress = Generator[tuple[float, str], None, object]

# Interactive settings for the analysis step: the plugin shows the rVAE's latents,
# maps, histograms and GMM; the comparison baselines (conv AE, plain VAE, window
# GMM) are kept short. Everything else is the "recipe" preset.
INTERACTIVE_ANALYSIS = {"baseline_epochs": 1, "baseline_windows": 500}
RVAE_STEPS = (("subimages", 0.05), ("train-rvae", 0.65), ("encode", 0.05), ("analysis", 0.25))

_folder: str | None = None
_counter = iter(range(1, 1 << 62))


class UserError(Exception):
    """A mistake the user can fix (shown as a notification, never a traceback)."""


def session_folder() -> str:
    """This process's folder of session analysis files (removed at exit)."""
    global _folder
    if _folder is None or not os.path.isdir(_folder):
        _folder = tempfile.mkdtemp(prefix="atomvae-napari-")
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def session_path(stem: str = "session") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:40] or "session"
    return os.path.join(session_folder(), f"{safe}-{next(_counter)}.h5")


def in_session(path: str) -> bool:
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(session_folder())


def run_native(call: Callable, cancel: threading.Event, span=(0.0, 1.0)) -> Progress:
    """Runs ``call(progress)`` (a blocking atomvae call) in a thread and yields its
    latest progress, mapped into ``span``, about ten times a second; returns its
    result or raises its exception (``atomvae.Cancelled`` once ``cancel`` is set).
    Closing the generator early cancels the call and waits for it."""
    reports: queue.SimpleQueue = queue.SimpleQueue()
    box: dict = {}

    def progress(fraction: float, phase: str) -> bool:
        reports.put((fraction, phase))
        return not cancel.is_set()

    def target():
        try:
            box["value"] = call(progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the generator
            box["error"] = exc

    thread = threading.Thread(target=target, name="atomvae", daemon=True)
    thread.start()
    lo, hi = span
    try:
        while thread.is_alive():
            thread.join(0.1)
            latest = None
            while not reports.empty():
                latest = reports.get()
            if latest is not None:
                yield lo + (hi - lo) * min(max(latest[0], 0.0), 1.0), latest[1]
    finally:
        if thread.is_alive():
            cancel.set()
            thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def find_atoms(
    frames,
    pixel_size: float,
    *,
    model: str | None = None,
    threshold: float = 0.5,
    border: float = 0.0,
    name: str = "session",
    cancel: threading.Event | None = None,
) -> Progress:
    """A new session file of ``frames`` (H, W) or (n, H, W) at ``pixel_size`` Å/px,
    segmented (the embedded model, or ``model``'s file) with atoms found; returns
    the :class:`atomvae.AnalysisFile`."""
    import atomvae

    cancel = cancel or threading.Event()
    yield 0.0, "loading the model"
    segmenter = atomvae.Segmenter(model) if model else None
    file = atomvae.AnalysisFile.create(session_path(name), frames, pixel_size)
    settings = {"atoms": {"threshold": float(threshold), "border": float(border)}}
    yield from run_native(
        lambda p: file.run("segment", settings=settings, segmenter=segmenter, progress=p), cancel, (0.0, 0.9)
    )
    yield from run_native(lambda p: file.run("atoms", settings=settings, progress=p), cancel, (0.9, 1.0))
    return file


def order_parameters(
    path: str,
    *,
    epochs: int = 200,
    window_angstrom: float = 4.0,
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> Progress:
    """Windows, rVAE training, encoding and the latent analysis on the analysis
    file at ``path`` (copied into the session first when it is the user's own);
    returns the :class:`atomvae.AnalysisFile`."""
    import atomvae

    cancel = cancel or threading.Event()
    if not in_session(path):
        copy = session_path(os.path.splitext(os.path.basename(path))[0])
        with atomvae.AnalysisFile(path) as original:
            file = original.copy(copy)
        path = copy
    else:
        file = atomvae.AnalysisFile(path)
    if file.atoms is None:
        raise UserError("no atoms yet: run Find atoms first")
    settings = {
        "windows": {"size_angstrom": float(window_angstrom)},
        "training": {"epochs": int(epochs), "seed": int(seed)},
        "analysis": INTERACTIVE_ANALYSIS,
    }
    done = 0.0
    for step, weight in RVAE_STEPS:
        yield from run_native(
            lambda p, s=step: file.run(s, settings=settings, progress=p), cancel, (done, done + weight)
        )
        done += weight
    return file
