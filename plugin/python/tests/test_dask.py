"""atomvae on Dask (atomvae.dask) on a LocalCluster of two one-thread worker processes:
the same atoms as one process, many movies with one corrupt, a worker killed mid-run,
the rVAE across movies and the command line.

Run (development tree):
    ATOMVAE_LIBRARY=target/release/libatomvae.so ATOMVAE_HEADER=include/atomvae.h \
    PYTHONPATH=plugin/python python -m pytest plugin/python/tests/test_dask.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.find_spec("atomvae")
if (
    "ATOMVAE_LIBRARY" not in os.environ
    and _spec is not None
    and not any(Path(_spec.origin).parent.glob("_native*"))
    and (ROOT / "target/release/libatomvae.so").exists()
):  # the source tree without a wheel: use the development build (the workers inherit this)
    os.environ["ATOMVAE_LIBRARY"] = str(ROOT / "target/release/libatomvae.so")
    os.environ.setdefault("ATOMVAE_HEADER", str(ROOT / "include/atomvae.h"))
if _spec is not None:  # worker processes import atomvae from the same place
    _package_root = str(Path(_spec.origin).parents[1])
    if _package_root not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root, os.environ.get("PYTHONPATH")) if p)

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.array")

import atomvae  # noqa: E402
import atomvae.dask as ad  # noqa: E402

PIXEL = 0.2
# Small and fast: 2 rVAE epochs and a light latent analysis.
FAST = {
    "training": {"epochs": 2},
    "analysis": {
        "baseline_epochs": 1,
        "baseline_windows": 300,
        "ssim_grid": 2,
        "ssim_rotations": 4,
        "gmm_max_components": 2,
        "gmm": {"restarts": 1},
    },
}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=50
    )
    made = distributed.Client(cluster, set_as_default=False)
    ad.register(made)
    yield made
    made.close()
    cluster.close()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The single-process references run, like each worker, on one thread."""
    atomvae.set_threads(1)


def simulate(path: Path, frames: int = 2, size: int = 128, seed: int = 1) -> Path:
    atomvae.simulate_movie(path, frames=frames, height=size, width=size, pixel_size=PIXEL, seed=seed).close()
    return path


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def assert_same_atoms(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and len(a) == len(b) and len(a) > 0
    for field in a.dtype.names:
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


def test_atoms_identical_to_single_process(tmp_path, client):
    movie = simulate(tmp_path / "movie.h5", frames=3, size=160)
    frames, pixel_size = ad.movie_frames(movie, chunk_mib=0.1)  # one frame per block: 3 tasks on 2 workers
    assert frames.chunks[0] == (1, 1, 1) and pixel_size == pytest.approx(PIXEL)
    probabilities, atoms = ad.segment_atoms(frames, pixel_size, border=2.0)
    assert probabilities.shape == (3, 3, 160, 160) and probabilities.dtype == np.float32
    assert ad.worker_state()["loads"] == 0  # building the graph loaded no model

    got_p, got_atoms = client.compute([probabilities, atoms], sync=True)

    with atomvae.AnalysisFile(movie) as source, atomvae.Segmenter() as segmenter:
        reference_p = segmenter.segment(source.frames, PIXEL)
    reference = atomvae.find_atoms(reference_p, PIXEL, border=2.0)
    np.testing.assert_array_equal(got_p, reference_p)
    assert_same_atoms(got_atoms, reference)
    assert set(got_atoms["frame"]) == {0, 1, 2}

    # numpy frames in memory, other blocks: the same table
    again = client.compute(ad.segment_atoms(frames.compute(), PIXEL, border=2.0)[1]).result()
    assert_same_atoms(again, reference)
    table = ad.atoms_dataframe(got_atoms)
    assert list(table.columns) == ["frame", "y", "x", "class", "confidence"] and len(table) == len(reference)

    states = client.run(ad.worker_state)
    trimmed = client.run(lambda: "MALLOC_TRIM_THRESHOLD_" in os.environ)  # set by Dask's nanny
    assert len(states) == 2
    for address, state in states.items():
        assert state["threads"] == 1
        assert state["loads"] <= 1  # one model per worker process, not one per task
        assert state["malloc_tuned"] is trimmed[address]  # see atomvae.dask.tune_malloc


def test_analyze_many_one_corrupt_and_rvae_across(tmp_path, client):
    movies = [simulate(tmp_path / "first.h5", seed=1), tmp_path / "broken.h5", simulate(tmp_path / "second.h5", seed=2)]
    movies[1].write_bytes(b"\x89HDF\r\n\x1a\n" + b"not really" * 200)
    out = tmp_path / "out"
    seen = []

    results = ad.analyze_many(movies, client, out, FAST, progress=lambda f, m: seen.append((f, m)), poll=0.05)

    assert [r.status for r in results] == ["ok", "error", "ok"]
    broken = results[1]
    assert broken.error_type == "FileError" and "broken.h5" in broken.error and not broken.ok
    assert not Path(broken.out).exists()
    for r in (results[0], results[2]):
        assert r.ok and Path(r.out).exists() and r.atoms > 0 and r.windows > 0
        assert Path(r.out).parent == out and Path(r.out).name == Path(r.movie).stem + ".analysis.h5"
    assert hidden_files(out) == []
    assert seen and seen[-1][0] == 1.0 and all(0.0 <= f <= 1.0 for f, _ in seen)

    # The same movie in this process: bit-identical atoms, latents within float tolerance.
    reference = atomvae.analyze(movies[0], tmp_path / "reference.h5", settings=FAST)
    with atomvae.AnalysisFile(results[0].out) as made:
        assert_same_atoms(made.atoms, reference.atoms)
        np.testing.assert_allclose(made.latents["mean"], reference.latents["mean"], rtol=1e-4, atol=1e-4)
    reference.close()

    # One rVAE across the movies that were analysed; the failed one is passed over.
    sample, seed = 300, 5
    across = ad.rvae_across(
        results, client, settings={"training": {"epochs": 2}}, sample=sample, seed=seed, progress=lambda f, m: True
    )
    assert [m["status"] for m in across.movies] == ["ok", "error", "ok"]
    assert across.windows_trained == sample and Path(across.model).exists()
    assert across.rows == results[0].windows + results[2].windows
    table = ad.load_table(across.table)
    assert len(table) == across.rows and {"movie", "analysis", "frame", "atom", "angle", "z1"} <= set(table.columns)
    assert hidden_files(out) == []

    # Recomputed here with the documented sampling (a seeded draw over the movies' windows in order).
    windows = [atomvae.AnalysisFile(r.out).windows for r in (results[0], results[2])]
    everything = np.concatenate(windows)
    chosen = np.sort(np.random.default_rng(seed).choice(len(everything), size=sample, replace=False))
    model = atomvae.Rvae.train(everything[chosen], training={"epochs": 2})
    for r, w in zip((results[0], results[2]), windows, strict=True):
        with np.load(ad.latents_path(r.out)) as stored:
            assert Path(ad.latents_path(r.out)).parent == out
            assert list(stored["columns"]) == model.latent_columns
            mean, logvar = model.encode(w)
            np.testing.assert_allclose(stored["mean"], mean, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(stored["logvar"], logvar, rtol=1e-4, atol=1e-4)
            assert len(stored["frame"]) == len(w)


def test_killed_worker_is_retried_without_half_files(tmp_path, client):
    first = simulate(tmp_path / "victim.h5", frames=3, size=128, seed=3)
    twin = tmp_path / "twin.h5"
    shutil.copy(first, twin)  # the same movie: its analysis is the reference
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    killed: dict = {}

    def kill_mid_run(fraction, message):
        if killed:
            return True
        if not list(out.glob(".victim.analysis.h5.part-*")):
            return True  # its worker has not started writing yet
        for address, keys in client.processing().items():
            if any(str(k).startswith("atomvae-analyze-0-victim.h5-") for k in keys):
                killed.update(pid=pids[address], address=address, at=time.monotonic())
                os.kill(pids[address], signal.SIGKILL)
        return True

    results = ad.analyze_many([first, twin], client, out, FAST, progress=kill_mid_run, poll=0.02)

    assert killed, "the victim's worker was never seen mid-run"
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert results[0].pid != killed["pid"]  # finished by another process
    assert hidden_files(out) == []  # no half file, no stray temporary file
    with atomvae.AnalysisFile(results[0].out) as victim, atomvae.AnalysisFile(results[1].out) as reference:
        assert set(atomvae.STEPS) <= set(victim.provenance)
        assert_same_atoms(victim.atoms, reference.atoms)
        np.testing.assert_allclose(victim.latents["mean"], reference.latents["mean"], rtol=1e-4, atol=1e-4)
    deadline = time.monotonic() + 60
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the nanny restarts the killed worker


def test_command_line(tmp_path, client, capsys):
    movie = simulate(tmp_path / "cli.h5", seed=4)
    summary = tmp_path / "summary.json"
    code = ad.main(
        [
            str(movie),
            "--scheduler",
            client.scheduler.address,
            "--until",
            "subimages",
            "--across",
            "--settings",
            json.dumps({"training": {"epochs": 2}}),
            "--json",
            str(summary),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "ok" in printed and "combined table" in printed
    result = json.loads(summary.read_text())
    assert result["movies"][0]["status"] == "ok" and result["movies"][0]["steps"][-1] == "subimages"
    assert "train-rvae" not in result["movies"][0]["steps"]
    assert Path(ad.latents_path(result["movies"][0]["out"])).exists()
    again = [str(movie), "--scheduler", client.scheduler.address, "--until", "subimages", "--skip-existing"]
    assert ad.main([*again, "--json", str(summary), "--quiet"]) == 0
    assert json.loads(summary.read_text())["movies"][0]["status"] == "skipped"
    assert ad.main([str(tmp_path / "missing.npy"), "--scheduler", client.scheduler.address, "--quiet"]) == 1
