"""The peer's atoms and species on a stored movie (the multislice dev set): AtomAI
0.8.1's U-Net trained exactly as the peer's harness trains it (../shared/anchors:
200 patches of 256² from its generator, 3 % Si, 200 iterations of batch 8, Adam
1e-3, cross-entropy), then `Segmentor.predict` (threshold 0.5, its Locator) on every
frame, min-max normalised as the harness feeds frames. Writes the found atoms as
CSV (frame, y, x, class with 1 = C, 2 = Si) for atomvae's scorer, so both tools are
scored by the same code on the same frames.

Usage: python peer_species.py --synth ../shared/anchors/synth.py --out-dir DIR FRAMES.npy [FRAMES.npy ...]
(FRAMES.npy: (n, H, W) float32; writes DIR/<stem>.csv for each)
"""

import argparse
import time
from pathlib import Path

import numpy as np
from peer_synth import load_synth


def minmax(a):
    a = a.astype(np.float32)
    return (a - a.min()) / (a.max() - a.min() + 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synth", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("movies", nargs="+")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--patches", type=int, default=200)
    args = ap.parse_args()
    import atomai as aoi
    import torch

    torch.set_num_threads(2)
    synth = load_synth(args.synth)
    images, masks = synth.random_patches(seed=100, n=args.patches + 32, patch=256, p=synth.FrameParams(si_frac=0.03))
    x = np.stack([minmax(i) for i in images])[:, None]
    # The peer's Locator takes the last channel as background: (bg, C, Si) → (C, Si, bg).
    y = ((np.asarray(masks).astype(np.int64) + 2) % 3).astype(np.int64)
    n = args.patches
    seg = aoi.models.Segmentor("Unet", nb_classes=3, seed=1)
    t0 = time.time()
    seg.fit(
        x[:n],
        y[:n],
        x[n:],
        y[n:],
        loss="ce",
        training_cycles=args.iters,
        batch_size=8,
        compute_accuracy=False,
        swa=False,
        print_loss=max(1, args.iters // 5),
        filename=str(Path(args.out_dir) / "peer_seg"),
        plot_training_history=False,
    )
    print(f"peer U-Net trained in {time.time() - t0:.0f} s", flush=True)
    for movie in args.movies:
        frames = np.load(movie)
        rows = []
        for k, frame in enumerate(frames):
            _, coords = seg.predict(minmax(frame), verbose=False)
            for r, c, cls in np.asarray(coords[0], np.float64):
                rows.append(f"{k},{r:.3f},{c:.3f},{2 if int(cls) == 1 else 1}")
        out = Path(args.out_dir) / (Path(movie).stem + ".csv")
        out.write_text("frame,y,x,class\n" + "\n".join(rows) + "\n")
        print(f"{movie}: {len(rows)} atoms found by the peer in {len(frames)} frames", flush=True)


if __name__ == "__main__":
    main()
