"""Trains AtomAI's rVAE on atomvae's own windows and writes its latent means, so
that bench/order.rs scores the peer's angle and z1 exactly as it scores atomvae's.

AtomAI as a user runs it for this paper's workflow: atomai.models.rVAE((w, w),
latent_dim=2, seed=SEED) with its defaults (shift latents on, Adam 1e-4), batch 100,
EPOCHS epochs. Input: windows (N, w, w) float32 .npy; output: (N, k, 1) float32
.npy of z_mean with columns angle, dx, dy, z1, z2 (AtomAI's order).
Run with the python that has atomai installed."""

import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import atomai as aoi
    import torch

    torch.set_num_threads(2)
    x = np.load(args.windows).astype(np.float32)
    w = x.shape[-1]
    rvae = aoi.models.rVAE((w, w), latent_dim=2, seed=args.seed)
    t0 = time.perf_counter()
    rvae.fit(x, training_cycles=args.epochs, batch_size=100, filename=args.out + ".model")
    train_s = time.perf_counter() - t0
    z_mean, _ = rvae.encode(x)
    np.save(args.out, np.asarray(z_mean, dtype=np.float32)[..., None])
    loss = [float(v) for v in rvae.loss_history["train_loss"]]
    print(json.dumps({"train_s": train_s, "epochs": args.epochs, "final_loss": loss[-1] if loss else None}))


if __name__ == "__main__":
    main()
