"""Times the peer's frame generator (AtomAI harness's synth.py, numpy) for the
side-by-side simulator benchmark. Prints one JSON line: seconds per frame."""

import argparse
import json
import time

from peer_synth import load_synth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synth", required=True, help="path to ../shared/anchors/synth.py")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    synth = load_synth(args.synth)
    params = synth.FrameParams(size=(args.size, args.size))
    synth.make_frame(args.seed, params)  # warm-up: imports, allocator
    times = []
    for k in range(args.repeats):
        t0 = time.perf_counter()
        synth.make_frame(args.seed + 1 + k, params)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": times}))


if __name__ == "__main__":
    main()
