"""Benchmark of atomvae's Dask scale-out (plugin/python/atomvae/dask.py): throughput of
segmentation + atom finding on a simulated 40-frame 1024² movie with 1 and 2 worker
processes (one thread each), the scaling efficiency, and the overhead per task against
calling the package directly in one process. Writes bench/results/dask.json.

Run (development tree; the workers inherit the environment):
    ATOMVAE_LIBRARY=target/release/libatomvae.so ATOMVAE_HEADER=include/atomvae.h \
    PYTHONPATH=plugin/python python bench/dask.py [--frames 40] [--size 1024] [--repeats 3]
"""

import sys
from pathlib import Path

# This file is named dask.py: keep its folder off the import path so `import dask` finds Dask.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

ROOT = _HERE.parent


def machine() -> str:
    """CPU model, cores, memory and the flags that matter to libtorch (as bench/common.rs, plus flags)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags_line = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "")
    flags = set(flags_line.split())
    amx = sorted(f for f in flags if f.startswith("amx"))
    mem = Path("/proc/meminfo").read_text().split()[1] if Path("/proc/meminfo").exists() else "0"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    marks = [
        f"amx {'yes (' + ' '.join(amx) + ')' if amx else 'no'}",
        f"avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}",
        f"avx2 {'yes' if 'avx2' in flags else 'no'}",
    ]
    return f"{model}, {cores} cores, {int(mem) / 2**20:.0f} GiB; {', '.join(marks)}"


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def median_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_seconds(client=None) -> float:
    """CPU time of this process (with a LocalCluster: client, scheduler and nannies)
    plus that of every worker process: what the work cost, whoever else ran."""
    own = time.process_time()
    if client is None:
        return own
    return own + sum(client.run(time.process_time).values())


def _noop(x):
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--pixel-size", type=float, default=0.15)
    parser.add_argument("--block", type=int, default=4, help="frames per block of the throughput runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench/results/dask.json"))
    args = parser.parse_args()

    import atomvae
    import atomvae.dask as ad
    import distributed

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="atomvae-bench-dask-"))
    movie = work / "movie.h5"
    started = time.perf_counter()
    atomvae.simulate_movie(
        movie, frames=args.frames, height=args.size, width=args.size, pixel_size=args.pixel_size, seed=7
    ).close()
    print(f"simulated {args.frames}×{args.size}² in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    mpix = args.frames * args.size * args.size / 1e6
    block_mib = args.block * args.size * args.size * 4 / 2**20
    measurements = []

    def measure(name, unit, value):
        measurements.append({"name": name, "unit": unit, "value": value})
        print(f"{name}: {value:.4g} {unit}", file=sys.stderr)

    # --- the package called directly, in this process, block by block (reading included) ---
    segmenter = atomvae.Segmenter()

    def direct(block: int, count: int = args.frames, threads: int = 1):
        atomvae.set_threads(threads)
        parts = []
        for start in range(0, count, block):
            frames = ad._read_frames(str(movie), start, min(start + block, count))
            found = atomvae.find_atoms(segmenter.segment(frames, args.pixel_size), args.pixel_size)
            found["frame"] += np.uint32(start)
            parts.append(found)
        atomvae.set_threads(1)
        return np.concatenate(parts)

    # Direct calls run on a thread of their own, as a Dask worker runs its tasks: in this
    # process's main thread the same calls are ~25 % slower (glibc's main malloc arena), so
    # the main thread is measured on its own ("direct_main_thread").
    pool = ThreadPoolExecutor(1)

    def threaded(*a, **k):
        return pool.submit(direct, *a, **k).result()

    direct(args.block, args.block)  # warm-up
    threaded(args.block, args.block)
    reference = threaded(args.block)

    # --- the same work on Dask: 1 and 2 worker processes of one thread, all started up front ---
    clusters = {}
    for label, workers, malloc in ((1, 1, True), (2, 2, True), ("dask_malloc", 1, False)):
        cluster = distributed.LocalCluster(
            processes=True, n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=50
        )
        client = distributed.Client(cluster, set_as_default=False)
        ad.register(client, preload=True, malloc=malloc)  # the model is loaded before the clock starts
        clusters[label] = (cluster, client)

    def forget(client):
        """Waits until the scheduler holds no task: the next run computes everything again."""
        while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
            time.sleep(0.01)

    def on_dask(client, block: int, count: int = args.frames):
        frames, pixel_size = ad.movie_frames(movie, chunk_mib=block * args.size * args.size * 4 / 2**20)
        _, atoms = ad.segment_atoms(frames[:count], pixel_size)
        future = client.compute(atoms)
        found = future.result()
        del future
        forget(client)
        return found

    identical = True
    for _, client in clusters.values():
        on_dask(client, args.block, args.block * 2)  # warm-up: imports, allocator
        found = on_dask(client, args.block)
        identical &= bool(all(np.array_equal(found[f], reference[f]) for f in reference.dtype.names))

    # Interleaved rounds: whatever else runs on the machine weighs on every configuration alike.
    runs = {
        "direct": lambda: threaded(args.block),
        "direct_main_thread": lambda: direct(args.block),
        "direct_frame": lambda: threaded(1),
        "direct_2threads": lambda: threaded(args.block, threads=2),
        1: lambda: on_dask(clusters[1][1], args.block),
        "frame": lambda: on_dask(clusters[1][1], 1),
        2: lambda: on_dask(clusters[2][1], args.block),
        "dask_malloc": lambda: on_dask(clusters["dask_malloc"][1], args.block),
    }
    wall: dict = {name: [] for name in runs}
    cpu: dict = {name: [] for name in runs}
    for round_ in range(args.repeats):
        for name, run in runs.items():
            if name == "dask_malloc" and round_ > 0:
                continue  # slow: one run is enough to show it
            client = clusters[name][1] if name in clusters else (clusters[1][1] if name == "frame" else None)
            started, cpu_started = time.perf_counter(), cpu_seconds(client)
            run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(cpu_seconds(client) - cpu_started)
        print(f"round {round_ + 1}/{args.repeats} done", file=sys.stderr)
    times = {name: statistics.median(values) for name, values in wall.items()}
    cpu_times = {name: statistics.median(values) for name, values in cpu.items()}
    t_direct_1, t_direct_frame, t_direct_2 = times["direct"], times["direct_frame"], times["direct_2threads"]
    cpu_direct = cpu_times["direct"]

    tasks = 1000
    client = clusters[1][1]
    started = time.perf_counter()
    client.gather(client.map(_noop, range(tasks), pure=False))
    times["noop"] = (time.perf_counter() - started) / tasks
    pool.shutdown()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    for cluster, client in clusters.values():
        client.close()
        cluster.close()

    measure(
        "direct_1thread_frames_per_s",
        "frames/s (segment + atoms, package called directly, 1 process, 1 libtorch thread)",
        args.frames / t_direct_1,
    )
    measure("direct_1thread_mpix_per_s", "MPix/s", mpix / t_direct_1)
    measure(
        "direct_1thread_main_thread_frames_per_s",
        "frames/s (the same calls from the process's main thread)",
        args.frames / times["direct_main_thread"],
    )
    measure("direct_2threads_frames_per_s", "frames/s (1 process, libtorch 2 threads)", args.frames / t_direct_2)
    for workers in (1, 2):
        measure(
            f"dask_{workers}worker{'s' if workers > 1 else ''}_frames_per_s",
            f"frames/s (segment + atoms, {args.block}-frame blocks of {block_mib:.0f} MiB)",
            args.frames / times[workers],
        )
    measure(
        "dask_1worker_frames_per_s_dask_malloc",
        "frames/s (1 worker keeping Dask's MALLOC_TRIM_THRESHOLD_=65536: AtomvaeWorker(malloc=False))",
        args.frames / times["dask_malloc"],
    )
    measure("dask_2workers_mpix_per_s", "MPix/s", mpix / times[2])
    measure("dask_scaling_efficiency_2workers", "fraction (t1 / (2 × t2))", times[1] / (2 * times[2]))
    measure("dask_speedup_2workers_vs_direct_1thread", "×", t_direct_1 / times[2])
    measure("dask_speedup_2workers_vs_direct_2threads", "×", t_direct_2 / times[2])
    blocks = -(-args.frames // args.block)
    measure(
        "dask_overhead_per_block_ms",
        f"ms per {args.block}-frame block (read + segment + atoms tasks; 1 worker vs direct)",
        1e3 * (times[1] - t_direct_1) / blocks,
    )
    measure(
        "dask_overhead_per_frame_task_ms",
        "ms per 1-frame block (3 tasks; 1 worker vs direct per frame)",
        1e3 * (times["frame"] - t_direct_frame) / args.frames,
    )
    measure("cpu_s_per_frame_direct", "CPU s per frame (1 process, 1 thread)", cpu_direct / args.frames)
    for workers in (1, 2):
        measure(
            f"cpu_s_per_frame_dask_{workers}worker{'s' if workers > 1 else ''}",
            "CPU s per frame (workers + client/scheduler/nannies)",
            cpu_times[workers] / args.frames,
        )
    measure(
        "dask_cpu_overhead_per_block_ms",
        f"CPU ms per {args.block}-frame block (Dask, 2 workers, all processes, minus direct)",
        1e3 * (cpu_times[2] - cpu_direct) / blocks,
    )
    measure("dask_noop_task_ms", "ms per empty task (1000 tasks, 1 worker, round trip)", 1e3 * times["noop"])
    measure("dask_atoms_identical_to_direct", "bool (1 = bit-identical atom tables)", float(identical))
    measure("atoms_found", "atoms in the movie", float(len(reference)))

    load_after = os.getloadavg()
    doc = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "git": git_commit(),
        "comparisons": [],
        "measurements": measurements,
        "notes": {
            "movie": f"simulated, {args.frames} frames of {args.size}² px at {args.pixel_size} Å/px (seed 7)",
            "times": f"median of {args.repeats} interleaved rounds (the malloc=False run: 1); frames read from the"
            " .h5 in every run (h5py); wall-clock figures need quiet cores",
            "direct": "the package's calls on a thread of their own (as a worker runs tasks); the process's main"
            " thread is measured apart (direct_1thread_main_thread_frames_per_s)",
            "load_average_before_after": [round(x, 2) for x in (*load_before, *load_after)],
            "contention": "other jobs were running (1-min load before the run > 0.5)"
            if load_before[0] > 0.5
            else "machine quiet before the run (1-min load ≤ 0.5)",
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    print(f"wrote {out}", file=sys.stderr)
    for path in work.iterdir():
        path.unlink()
    work.rmdir()


if __name__ == "__main__":
    main()
