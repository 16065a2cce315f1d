"""Find atoms on a live frame: frames pushed from an acquisition thread the way a
hardware source does (queued data item updates, applied by the main thread's
periodic), faster than the computation runs. Each result belongs to a frame that
was pushed, results come in frame order, newer frames supersede older queued
ones, the last frame's result is the one left, and partial frames are skipped."""

from __future__ import annotations

import threading
import time

import numpy as np
from conftest import PIXEL_NM, add_data_item, outputs
from nion.data import Calibration, DataAndMetadata
from nionswift_plugin.atomvae import find_atoms, menu


def frame_xdata(data, metadata=None):
    calibration = Calibration.Calibration(scale=PIXEL_NM, units="nm")
    return DataAndMetadata.new_data_and_metadata(
        np.ascontiguousarray(data, np.float32), dimensional_calibrations=[calibration, calibration], metadata=metadata
    )


def run_until(swift, done, timeout=180.0):
    """The main thread's loop: periodic (applies queued updates) and the event loop
    (starts computations and commits their results)."""
    loop = swift.document_controller.event_loop
    end = time.perf_counter() + timeout
    while not done() and time.perf_counter() < end:
        swift.document_controller.periodic()
        loop.stop()
        loop.run_forever()
        time.sleep(0.005)
    swift.document_model.recompute_all()


def test_live_frames_supersede_queued_ones(swift, movie, monkeypatch):
    frames = [np.rot90(movie[i % 3], i // 3)[:128, :128] for i in range(10)]  # 10 distinct frames
    source = add_data_item(swift, frames[0], title="live")
    data_item = source._data_item
    committed: list[int] = []
    original_commit = find_atoms.FindAtoms.commit

    def recording_commit(self):
        found = self._FindAtoms__found
        if found is not None:
            committed.append(next(i for i, f in enumerate(frames) if np.array_equal(f, found.frames.data)))
        original_commit(self)

    monkeypatch.setattr(find_atoms.FindAtoms, "commit", recording_commit)
    computation = menu.create_computation(swift.api.library, find_atoms.PROCESSING_ID, source)
    swift.document_model.recompute_all()
    assert committed == [0]

    swift.document_model.begin_data_item_live(data_item)
    pushed = threading.Event()

    def acquisition():
        for frame in frames[1:]:
            swift.document_model._queue_data_item_update(data_item, frame_xdata(frame))
            time.sleep(0.1)  # 10 frames/s: faster than Find atoms runs here
        pushed.set()

    thread = threading.Thread(target=acquisition)
    thread.start()
    run_until(swift, pushed.is_set)
    thread.join()
    model = computation._computation

    def idle():
        pending = swift.document_model._get_pending_data_item_updates_count()
        return not pending and not model.is_running and not model.needs_update

    run_until(swift, idle)
    swift.document_model.end_data_item_live(data_item)

    assert computation._computation.error_text is None
    assert committed == sorted(set(committed)), "results must come in frame order, each once"
    assert committed[-1] == len(frames) - 1, "the newest frame's result is the one left"
    assert 2 < len(committed) < len(frames), "some frames ran, older queued ones were superseded"
    table = outputs(computation)["probability_C"].metadata["atomvae"]["atoms"]
    graphic_id = find_atoms.atom_graphic_id(computation)
    display_item = swift.document_model.get_display_item_for_data_item(data_item)
    assert len([g for g in display_item.graphics if g.graphic_id == graphic_id]) == len(table["x"])

    # A live scan still filling a frame says so in its metadata: no run until it is complete.
    runs = len(committed)
    half = frame_xdata(frames[3], metadata={"scan": {"valid_rows": 64}})
    swift.document_model._queue_data_item_update(data_item, half)
    run_until(swift, lambda: False, timeout=0.5)
    run_until(swift, idle)
    assert len(committed) == runs and outputs(computation)["probability_C"].metadata["atomvae"]["atoms"] == table
    complete = frame_xdata(frames[3], metadata={"scan": {"valid_rows": 128}})
    swift.document_model._queue_data_item_update(data_item, complete)
    run_until(swift, lambda: False, timeout=0.5)
    run_until(swift, idle)
    assert committed[-1] == 3 and len(committed) == runs + 1
