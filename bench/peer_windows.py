"""Writes the windows the peer's rVAE benchmark trains on, made exactly as its
harness does (../shared/anchors/bench_atomai.py, rvae phase): an 8-frame movie from
synth.make_movie(7), frames min-max normalised, windows cut by
atomai.utils.extract_subimages around the ground-truth atoms, N drawn with
numpy.random.default_rng(0). Output: windows_<w>.npy (N, w, w) float32.
Run with the python that has atomai installed."""

import argparse
from pathlib import Path

import numpy as np
from peer_synth import load_synth


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synth", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--windows", default="32,48")
    ap.add_argument("--frames", type=int, default=8)
    args = ap.parse_args()
    import atomai as aoi

    synth = load_synth(args.synth)
    movie = synth.make_movie(7, n_frames=args.frames, p=synth.FrameParams())

    def minmax(a):
        a = a.astype(np.float32)
        return (a - a.min()) / (a.max() - a.min() + 1e-12)

    imgs = np.stack([minmax(f["image"]) for f in movie])[..., None]
    coords = {i: np.c_[f["coords"], np.zeros(len(f["coords"]))].astype(np.float64) for i, f in enumerate(movie)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for w in map(int, args.windows.split(",")):
        sub, _, _ = aoi.utils.extract_subimages(imgs, coords, w, coord_class=0)
        idx = np.sort(np.random.default_rng(0).choice(len(sub), args.n, replace=False))
        np.save(out / f"windows_{w}.npy", sub[idx, ..., 0].astype(np.float32))


if __name__ == "__main__":
    main()
