"""Threads: native calls release the GIL, handles are independent, results do not
depend on which thread computed them."""

from __future__ import annotations

import threading
import time

import numpy as np
from conftest import PIXEL_SIZE

import atomvae


def test_two_threads_with_their_own_handles_match_one_after_the_other(frames, windows):
    def work():
        seg = atomvae.Segmenter(device="cpu")
        probabilities = seg.segment(frames[:2], PIXEL_SIZE)
        model = atomvae.Rvae.train(windows[:150], training={"epochs": 1, "seed": 11}, device="cpu")
        return probabilities, model.encode(windows[:40])[0]

    sequential = [work(), work()]
    results = [None, None]

    def run(i):
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (p, z), (p_seq, z_seq) in zip(results, sequential, strict=True):
        np.testing.assert_array_equal(p, p_seq)
        np.testing.assert_array_equal(z, z_seq)


def test_the_main_thread_keeps_running_while_a_worker_segments(frames, segmenter):
    big = np.tile(frames[0], (4, 4))  # 640² px: long enough to watch
    done = threading.Event()
    ticks = []

    def worker():
        segmenter.segment(np.stack([big, big]), PIXEL_SIZE)
        done.set()

    thread = threading.Thread(target=worker)
    started = time.perf_counter()
    thread.start()
    while not done.is_set():
        ticks.append(time.perf_counter() - started)
        time.sleep(0.005)
    thread.join()
    elapsed = time.perf_counter() - started
    assert elapsed > 0.2, "the work should take a while"
    # With the GIL held during the call the main thread would tick about once.
    assert len(ticks) > 0.5 * elapsed / 0.005 * 0.2, (len(ticks), elapsed)


def test_set_threads_holds_on_every_calling_thread(frames, segmenter):
    import torch

    atomvae.set_threads(1)
    seen = {}

    def worker():
        segmenter.segment(frames[0], PIXEL_SIZE)
        seen["threads"] = torch.get_num_threads()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["threads"] == 1, "libtorch's thread count is per thread: atomvae applies the process-wide one"
