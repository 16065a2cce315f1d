"""Running the analysis off DM's UI thread, with DM's progress window and cancel.

The script's own thread (DM's main thread when launched from the menu) stays in
a loop that lets DM handle its events, shows the progress and watches for a
cancel request; the work runs in a Python thread. It calls the atomvae package
in this process ("in-process") or runs ``worker.py`` in a separate Python
("out-of-process") and reads its progress lines; both run the same
:mod:`atomvae_dm.pipeline` and return the same arrays.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

from . import Cancelled, Refused, dm

MODES = ("auto", "in-process", "out-of-process")
CANCEL_GRACE_S = 30.0


def backend(mode=None):
    """The backend for ``mode`` (argument, else $ATOMVAE_DM_MODE or the persistent
    tag atomvae:Mode, else "auto": in-process when ``import atomvae`` works here)."""
    mode = (mode or dm.setting("atomvae:Mode", "ATOMVAE_DM_MODE") or "auto").strip().lower()
    if mode not in MODES:
        raise Refused(f"mode must be one of {', '.join(MODES)}, not '{mode}'.")
    if mode != "out-of-process":
        try:
            import atomvae  # noqa: F401 - on the script's thread: torch's first import must not be on a worker

            return InProcess()
        except Exception as error:  # noqa: BLE001 - ImportError, OSError (DLLs), a wrong torch ...
            if mode == "in-process":
                raise Refused(f"the atomvae package does not load in GMS's Python: {error}") from error
            dm.log(f"atomvae: not importable here ({error}); running it in a separate Python.")
    return OutOfProcess(dm.setting("atomvae:Python", "ATOMVAE_DM_PYTHON") or default_python())


def default_python():
    """GMS's own environment's python (out-of-process helps where torch loads in a
    plain Python of that environment but not inside DM)."""
    if os.name == "nt":
        return os.path.join(sys.prefix, "python.exe")
    name = os.path.basename(sys.executable or "")
    return sys.executable if name.startswith("python") else os.path.join(sys.prefix, "bin", "python3")


def worker_environment():
    """DM's environment for the worker, less PYTHONHOME and PYTHONPATH (they belong to
    GMS's own Python), plus PYTHONPATH from atomvae:Python path / $ATOMVAE_DM_PYTHONPATH."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    environment.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    path = dm.setting("atomvae:Python path", "ATOMVAE_DM_PYTHONPATH")
    if path:
        environment["PYTHONPATH"] = path
    return environment


class InProcess:
    name = "in-process"

    def run(self, task, frames, pixel_size, settings, analysis_path, progress):
        from . import pipeline

        return pipeline.run(task, frames, pixel_size, settings, analysis_path, progress)


class OutOfProcess:
    """Runs ``python worker.py request.json``: frames in as .npy, progress as JSON
    lines on stdout, results back as .npz plus JSON; cancel by a marker file."""

    name = "out-of-process"

    def __init__(self, python):
        self.python = python

    def run(self, task, frames, pixel_size, settings, analysis_path, progress):
        folder = tempfile.mkdtemp(prefix="atomvae-dm-")
        try:
            return self._run(folder, task, frames, pixel_size, settings, analysis_path, progress)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run(self, folder, task, frames, pixel_size, settings, analysis_path, progress):
        paths = {
            k: os.path.join(folder, k) for k in ("frames.npy", "request.json", "result.npz", "meta.json", "cancel")
        }
        np.save(paths["frames.npy"], frames)
        request = {
            "task": task,
            "frames": paths["frames.npy"],
            "pixel_size": float(pixel_size),
            "settings": settings or {},
            "analysis": analysis_path,
            "out": paths["result.npz"],
            "meta": paths["meta.json"],
            "cancel": paths["cancel"],
        }
        with open(paths["request.json"], "w", encoding="utf-8") as handle:
            json.dump(request, handle)
        worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
        environment = worker_environment()
        with open(os.path.join(folder, "stderr.txt"), "w+", encoding="utf-8", errors="replace") as stderr:
            try:
                process = subprocess.Popen(
                    [self.python, worker, paths["request.json"]],
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    stdin=subprocess.DEVNULL,
                    env=environment,
                    universal_newlines=True,
                    encoding="utf-8",
                    errors="replace",
                    creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
                )
            except OSError as error:
                raise Refused(
                    f"cannot start the separate Python '{self.python}' ({error}); "
                    "set its path in the persistent tag atomvae:Python (see README)."
                ) from error
            failure = self._follow(process, progress, paths["cancel"])
            stderr.seek(0)
            tail = stderr.read()[-2000:]
        if process.returncode == 3:
            raise Cancelled()
        if process.returncode != 0:
            detail = failure or f"exit status {process.returncode}: {tail}"
            raise RuntimeError(f"in the separate Python ({self.python}): {detail}")
        with np.load(paths["result.npz"], allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        with open(paths["meta.json"], encoding="utf-8") as handle:
            return arrays, json.load(handle)

    def _follow(self, process, progress, cancel_path):
        """Reads the worker's JSON lines until it exits; returns its error message."""
        failure, killer = None, None
        for line in process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # anything else printed by the libraries
            if "progress" in record and not progress(float(record["progress"]), str(record.get("phase", ""))):
                if killer is None:
                    open(cancel_path, "w").close()
                    killer = threading.Timer(CANCEL_GRACE_S, process.kill)
                    killer.start()
            failure = record.get("error", failure)
        process.wait()
        if killer is not None:
            killer.cancel()
        return failure


class Job:
    """The work's shared state: latest progress, a cancel flag, result or error."""

    def __init__(self, work):
        self.work, self.fraction, self.phase = work, 0.0, "starting"
        self.cancel, self.result, self.error = False, None, None

    def progress(self, fraction, phase):
        self.fraction, self.phase = fraction, phase
        return not self.cancel

    def target(self):
        try:
            self.result = self.work(self.progress)
        except BaseException as error:  # noqa: BLE001 - handed to the script's thread
            self.error = error


def run_with_progress(title, work, poll_s=0.1):
    """Runs ``work(progress)`` in a thread; meanwhile keeps DM responsive, shows the
    progress and turns a cancel request into ``progress`` returning False."""
    job = Job(work)
    thread = threading.Thread(target=job.target, name="atomvae", daemon=True)
    dm.clear_cancel()
    main_thread = dm.on_main_thread()
    shown = None
    thread.start()
    try:
        while thread.is_alive():
            if main_thread:
                dm.pump()
            if not job.cancel and dm.cancel_requested():
                job.cancel = True
            state = (job.phase, int(100 * job.fraction), job.cancel)
            if state != shown:
                hint = "cancelling ..." if job.cancel else "hold Shift+Ctrl to cancel"
                dm.show_progress(title, f"{job.phase}: {state[1]} %", hint)
                shown = state
            thread.join(poll_s)
    finally:
        dm.close_progress()
    if job.error is not None:
        raise job.error
    return job.result
