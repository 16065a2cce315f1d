"""Latency of live "Find atoms" in a headless Nion Swift document: a frame is
queued the way a hardware source queues it, and the time until its result is
committed (probabilities, atom table, graphics) is measured, per frame size.

    python plugin/nionswift/scripts/latency.py [--sizes 512 1024] [--frames 5] [--threads N]

Prints one line per size: median and range of the end-to-end latency, the share
spent in atomvae (segmentation + atom finding, on a worker thread) and in the
commit on the main thread, and the atoms found."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.swift import Facade
from nion.swift.model import DataItem
from nion.swift.test import TestContext
from nionswift_plugin.atomvae import find_atoms, menu


def frame_xdata(data: np.ndarray, pixel_nm: float) -> DataAndMetadata.DataAndMetadata:
    calibration = Calibration.Calibration(scale=pixel_nm, units="nm")
    return DataAndMetadata.new_data_and_metadata(data, dimensional_calibrations=[calibration, calibration])


def measure(size: int, frames: int, pixel_angstrom: float, max_marks: int) -> dict:
    import atomvae

    with tempfile.TemporaryDirectory() as folder:
        movie = atomvae.simulate_movie(
            os.path.join(folder, "m.h5"), frames=frames + 1, height=size, width=size, pixel_size=pixel_angstrom
        ).frames
    timings = {"execute": [], "commit": []}
    original_execute, original_commit = find_atoms.FindAtoms.execute_task, find_atoms.FindAtoms.commit

    def timed(original, key):
        def run(self, *args):
            start = time.perf_counter()
            original(self, *args)
            timings[key].append(time.perf_counter() - start)

        return run

    find_atoms.FindAtoms.execute_task = timed(original_execute, "execute")
    find_atoms.FindAtoms.commit = timed(original_commit, "commit")
    setup = TestContext.TestSetup(set_global=True)
    latencies, atoms = [], []
    try:
        with TestContext.create_memory_context() as context:
            controller = context.create_document_controller_with_application()
            document_model, loop = controller.document_model, controller.event_loop
            data_item = DataItem.new_data_item(frame_xdata(movie[0], pixel_angstrom / 10))
            document_model.append_data_item(data_item)
            api = Facade.get_api("~1.0", "~1.0")
            computation = menu.create_computation(
                api.library, find_atoms.PROCESSING_ID, Facade.DataItem(data_item), max_marks=max_marks
            )
            document_model.recompute_all()  # warm-up: loads the model, makes the outputs
            document_model.begin_data_item_live(data_item)
            for frame in movie[1:]:
                done = len(timings["commit"])
                start = time.perf_counter()
                document_model._queue_data_item_update(data_item, frame_xdata(frame, pixel_angstrom / 10))
                while len(timings["commit"]) == done:  # the UI's idle loop, at ~200 Hz
                    controller.periodic()
                    loop.stop()
                    loop.run_forever()
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - start)
                table = next(iter(r.output_items[0] for r in computation._computation.results if r.output_items))
                atoms.append(len(table.metadata["atomvae"]["atoms"]["x"]))
            document_model.end_data_item_live(data_item)
            document_model.recompute_all()
    finally:
        find_atoms.FindAtoms.execute_task, find_atoms.FindAtoms.commit = original_execute, original_commit
        del setup
    return {
        "size": size,
        "latency": latencies,
        "execute": timings["execute"][1:],
        "commit": timings["commit"][1:],
        "atoms": atoms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--pixel-size", type=float, default=0.2, help="Å/px of the simulated frames")
    parser.add_argument("--max-marks", type=int, default=400, help="the computation's max_marks parameter")
    parser.add_argument("--threads", type=int, default=0, help="libtorch threads (0: its default)")
    args = parser.parse_args()
    Facade.initialize()
    import atomvae

    if args.threads:
        atomvae.set_threads(args.threads)
    python = sys.version.split()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    cuda = atomvae.cuda_available()
    print(f"atomvae {atomvae.__version__}, CUDA {cuda}, {os.cpu_count()} CPUs (load {load}), Python {python}")
    for size in args.sizes:
        r = measure(size, args.frames, args.pixel_size, args.max_marks)
        ms = lambda values: f"{1000 * statistics.median(values):.0f} ms"  # noqa: E731
        print(
            f"{size}² px: latency {ms(r['latency'])} (range {1000 * min(r['latency']):.0f}–"
            f"{1000 * max(r['latency']):.0f} ms over {len(r['latency'])} frames); atomvae {ms(r['execute'])}, "
            f"commit {ms(r['commit'])}; {statistics.median(r['atoms']):.0f} atoms/frame"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
