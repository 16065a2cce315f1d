"""Writes test frames made by the peer's generator (../shared/anchors/synth.py,
default FrameParams: 1024², 0.104 Å/px, dose 20, 3 grains, 0.5 % Si, holes) for
the side-by-side segmentation benchmark: frames.npy (N, H, W) float32, min-max
normalised as the peer's harness feeds them, and atoms.csv (frame, y, x, class
with 1 = C, 2 = Si)."""

import argparse
from pathlib import Path

import numpy as np
from peer_synth import load_synth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synth", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=5000)
    args = ap.parse_args()
    synth = load_synth(args.synth)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames, rows = [], []
    for k in range(args.frames):
        f = synth.make_frame(args.first_seed + k)
        img = f["image"].astype(np.float32)
        frames.append((img - img.min()) / (img.max() - img.min()))
        for (y, x), c in zip(f["coords"], f["classes"], strict=True):
            rows.append((k, y, x, int(c) + 1))
    np.save(out / "frames.npy", np.stack(frames))
    np.savetxt(out / "atoms.csv", np.array(rows), delimiter=",", header="frame,y,x,class", comments="", fmt="%.4f")


if __name__ == "__main__":
    main()
