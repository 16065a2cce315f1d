"""A multislice HAADF-STEM dev set of Si-doped graphene, made with abTEM (issue 14 §1).

Contrast atomvae's own simulator never makes: an aberrated 60 kV probe with Airy
rings (defocus, spherical aberration and two-fold astigmatism drawn per frame), the
HAADF detector's real angular range (80–200 mrad), the Lobato potential of each atom
(no Z^γ rule), partial spatial coherence (a Gaussian source of 0.25–0.45 Å), Poisson
shot noise across doses. Geometry: one or two graphene grains (a grain boundary
where the second grain is cut against the first), holes with cleaned edges,
vacancies, and Si placed where the issue asks for it: at hole edges, in the bulk, as
dimers and trimers, near holes and along the grain boundary, and near the frame's
border.

Each structure is simulated once (the whole periodic cell is scanned at the probe's
Nyquist sampling and Fourier-interpolated to 0.1 Å/px, which is exact for a
periodic scan) and the central 256 × 256 px are kept; each frame is stored as
abTEM makes it (noise-free) and recorded at two doses. The output is an `.h5` movie in atomvae's layout: `/frames`
(f32, frames × 256 × 256, in C-peak units), root attribute `pixel_size_angstrom`,
`/truth/atoms/{frame,y,x,class,z,grain,sublattice}` and, per frame, the microscope
settings as JSON in the attribute `frame_settings`.

Usage: python make_devset.py OUT.h5 [--structures 12] [--seed 0]
"""

import argparse
import json
import time

import abtem
import ase
import h5py
import numpy as np

PIXEL = 0.1  # Å/px of the frames
FRAME_PX = 256  # frame edge (px)
CELL = 32.0  # periodic cell edge (Å); the frame is its centre
OFFSET = (CELL - FRAME_PX * PIXEL) / 2  # Å from the cell's corner to the frame's first pixel
LATTICE = 2.46  # graphene lattice constant (Å)
BOND = 1.42
DOSES = (10.0, 20.0, 40.0, 80.0, 160.0)  # expected counts at a C peak


def honeycomb(theta, shift):
    """Graphene sites (x, y, sublattice) of a grain turned by theta, covering the cell."""
    a1 = LATTICE * np.array([1.0, 0.0])
    a2 = LATTICE * np.array([0.5, np.sqrt(3) / 2])
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    n = int(2 * CELL / LATTICE) + 2
    i, j = np.meshgrid(np.arange(-n, n), np.arange(-n, n), indexing="ij")
    cells = i.reshape(-1, 1) * a1 + j.reshape(-1, 1) * a2
    sites, subl = [], []
    for s, basis in enumerate((np.zeros(2), (a1 + a2) / 3)):
        sites.append((cells + basis) @ turn.T + shift)
        subl.append(np.full(len(cells), s))
    xy, sub = np.concatenate(sites), np.concatenate(subl)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < CELL) & (xy[:, 1] >= 0) & (xy[:, 1] < CELL)
    return xy[inside], sub[inside]


def periodic_distances(xy):
    d = xy[:, None, :] - xy[None, :, :]
    d -= CELL * np.round(d / CELL)
    return np.hypot(d[..., 0], d[..., 1])


def clean(xy, too_close=1.1, min_bonds=2):
    """Drops atoms closer than `too_close` to an earlier one (seams, grain
    boundaries), then repeatedly atoms with fewer than `min_bonds` bonds."""
    dist = periodic_distances(xy)
    np.fill_diagonal(dist, np.inf)
    keep = np.ones(len(xy), bool)
    for k in range(len(xy)):
        if keep[k] and np.any(dist[k, :k][keep[:k]] < too_close):
            keep[k] = False
    while True:
        bonds = ((dist < 1.8) & keep[None, :]).sum(1)
        weak = keep & (bonds < min_bonds)
        if not weak.any():
            return keep
        keep &= ~weak


def structure(rng, kind, min_bonds):
    """Positions (x, y in Å, cell frame), grain, sublattice, and the Si indices."""
    theta1 = rng.uniform(0, np.pi / 3)
    xy, sub = honeycomb(theta1, rng.uniform(0, LATTICE, 2))
    grain = np.zeros(len(xy), int)
    if kind == "grain_boundary":
        # A second grain turned by 13–30° fills one side of a line through the frame.
        theta2 = theta1 + np.deg2rad(rng.uniform(13, 30))
        xy2, sub2 = honeycomb(theta2, rng.uniform(0, LATTICE, 2))
        normal_angle = rng.uniform(0, np.pi)
        normal = np.array([np.cos(normal_angle), np.sin(normal_angle)])
        centre = CELL / 2 + rng.uniform(-3, 3, 2)
        side1 = (xy - centre) @ normal < 0
        side2 = (xy2 - centre) @ normal >= 0
        xy = np.concatenate([xy[side1], xy2[side2]])
        sub = np.concatenate([sub[side1], sub2[side2]])
        grain = np.concatenate([np.zeros(side1.sum(), int), np.ones(side2.sum(), int)])
    holes = {"holes": rng.integers(1, 3), "grain_boundary": rng.integers(0, 2), "edge_rich": 3}[kind]
    for _ in range(holes):
        c = rng.uniform(OFFSET + 2, CELL - OFFSET - 2, 2)
        r = rng.uniform(2.5, 5.5)
        far = np.hypot(*(xy - c).T) > r
        xy, sub, grain = xy[far], sub[far], grain[far]
    # Single vacancies.
    drop = rng.choice(len(xy), size=2, replace=False)
    keep = np.ones(len(xy), bool)
    keep[drop] = False
    xy, sub, grain = xy[keep], sub[keep], grain[keep]
    keep = clean(xy, min_bonds=min_bonds)
    xy, sub, grain = xy[keep], sub[keep], grain[keep]
    return xy, grain, sub, place_silicon(rng, xy, grain)


def place_silicon(rng, xy, grain):
    """Si at edges, in the bulk, as dimers/trimers, near grain boundaries and near the border."""
    dist = periodic_distances(xy)
    np.fill_diagonal(dist, np.inf)
    bonded = dist < 1.8
    bonds = bonded.sum(1)
    frame_xy = xy - OFFSET
    in_frame = np.all((frame_xy > 0.3) & (frame_xy < FRAME_PX * PIXEL - 0.3), axis=1)
    near_border = in_frame & np.any((frame_xy < 2.0) | (frame_xy > FRAME_PX * PIXEL - 2.0), axis=1)
    other_grain_near = np.array([np.any((dist[k] < 3.0) & (grain != grain[k])) for k in range(len(xy))])
    edge = in_frame & (bonds < 3)
    near_edge = in_frame & ~edge & np.array([np.any((dist[k] < 3.0) & (bonds < 3)) for k in range(len(xy))])
    bulk = in_frame & (bonds == 3) & ~near_edge & ~other_grain_near & ~near_border
    si = set()

    def pick(mask, count):
        candidates = [k for k in np.flatnonzero(mask) if k not in si and not any(bonded[k, j] for j in si)]
        for k in rng.permutation(candidates)[:count]:
            if not any(bonded[k, j] for j in si):
                si.add(int(k))

    pick(edge, 2)
    pick(near_edge, 1)
    pick(bulk, 2)
    pick(other_grain_near & in_frame, 1)
    pick(near_border, 1)
    # A dimer and a trimer in the bulk or near an edge.
    for size in (2, 3):
        start = [k for k in np.flatnonzero(in_frame & (bonds == 3)) if k not in si]
        if not start:
            continue
        k = int(rng.choice(start))
        chain = [k]
        for j in np.flatnonzero(bonded[k]):
            if len(chain) < size and j not in si:
                chain.append(int(j))
        si.update(chain)
    return sorted(si)


def simulate(rng, xy, si, naive):
    symbols = ["C"] * len(xy)
    for k in si:
        symbols[k] = "Si"
    atoms = ase.Atoms(symbols, positions=np.c_[xy, np.full(len(xy), 2.0)], cell=[CELL, CELL, 4.0], pbc=True)
    settings = {
        "energy_eV": 60e3,
        "semiangle_cutoff_mrad": float(rng.uniform(28, 33)),
        "defocus_A": float(rng.uniform(-40, 40)),
        "Cs_A": float(rng.uniform(-2e4, 3e4)),
        "astigmatism_A": float(rng.uniform(0, 20)),
        "astigmatism_angle_rad": float(rng.uniform(0, np.pi)),
        "detector_mrad": [80, 200],
        "source_sigma_A": float(rng.uniform(0.25, 0.45)),
        "potential": "lobato, infinite projection, one slice, 0.05 Å sampling",
    }
    if naive:
        # What a first try with abTEM looks like: an unaberrated probe (Airy rings),
        # a medium- to high-angle detector, no source size.
        settings.update(defocus_A=0.0, Cs_A=0.0, astigmatism_A=0.0, source_sigma_A=0.0)
        settings["detector_mrad"] = [float(rng.uniform(45, 90)), 200]
    potential = abtem.Potential(
        atoms, sampling=0.05, projection="infinite", slice_thickness=4.0, parametrization="lobato"
    )
    probe = abtem.Probe(
        energy=settings["energy_eV"],
        semiangle_cutoff=settings["semiangle_cutoff_mrad"],
        defocus=settings["defocus_A"],
        Cs=settings["Cs_A"],
        astigmatism=settings["astigmatism_A"],
        astigmatism_angle=settings["astigmatism_angle_rad"],
    )
    probe.grid.match(potential)
    scan = abtem.GridScan(start=(0, 0), end=(CELL, CELL), sampling=probe.aperture.nyquist_sampling)
    detector = abtem.AnnularDetector(*settings["detector_mrad"])
    image = probe.scan(potential, scan=scan, detectors=detector).compute(progress_bar=False)
    image = image.interpolate(PIXEL)
    if settings["source_sigma_A"] > 0:
        image = image.gaussian_filter(settings["source_sigma_A"])
    # abTEM's first axis is x: transpose to (y, x) rows and columns.
    full = np.asarray(image.array, dtype=np.float64).T
    start = int(round(OFFSET / PIXEL))
    return full[start : start + FRAME_PX, start : start + FRAME_PX], settings


def c_peak(clean_frame, truth_yx, is_carbon):
    """Median image value at the C atoms (nearest pixel): the unit of the dose."""
    rows = np.clip(np.round(truth_yx[:, 0]).astype(int), 0, FRAME_PX - 1)
    cols = np.clip(np.round(truth_yx[:, 1]).astype(int), 0, FRAME_PX - 1)
    return float(np.median(clean_frame[rows[is_carbon], cols[is_carbon]]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--structures", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--naive",
        action="store_true",
        help="a first try with abTEM: unaberrated probe, 45–90 mrad inner angle, no source size, "
        "hole edges left uncleaned (atoms with one bond kept)",
    )
    args = parser.parse_args()
    kinds = ("holes", "grain_boundary", "edge_rich")
    frames, truth, settings_all = [], [], []
    for s in range(args.structures):
        rng = np.random.default_rng([args.seed, s])
        kind = kinds[s % len(kinds)]
        t0 = time.time()
        xy, grain, sub, si = structure(rng, kind, min_bonds=1 if args.naive else 2)
        clean_frame, settings = simulate(rng, xy, si, args.naive)
        yx = (xy[:, ::-1] - OFFSET) / PIXEL  # (row, col) px, (0, 0) = centre of the first pixel
        inside = np.all((yx > -0.5) & (yx < FRAME_PX - 0.5), axis=1)
        is_si = np.zeros(len(xy), bool)
        is_si[si] = True
        unit = c_peak(clean_frame, yx[inside], ~is_si[inside])
        # The noise-free frame (what abTEM returns), then two doses.
        for dose in [np.inf, *rng.choice(DOSES, size=2, replace=False)]:
            if np.isfinite(dose):
                counts = rng.poisson(np.clip(clean_frame / unit * dose, 0, None))
                frame = counts / dose + rng.normal(0, 0.03, clean_frame.shape)
            else:
                frame = clean_frame / unit
            index = len(frames)
            frames.append(frame.astype(np.float32))
            for k in np.flatnonzero(inside):
                truth.append((index, yx[k, 0], yx[k, 1], 2 if is_si[k] else 1, 14 if is_si[k] else 6, grain[k], sub[k]))
            settings_all.append(
                {**settings, "kind": kind, "structure": s, "dose": float(dose) if np.isfinite(dose) else None}
            )
        print(
            f"structure {s} ({kind}): {inside.sum()} atoms in the frame, {is_si[inside].sum()} Si, "
            f"{time.time() - t0:.0f} s",
            flush=True,
        )
    truth = np.array(truth, dtype=np.float64)
    with h5py.File(args.out + ".tmp", "w") as f:
        f.attrs["pixel_size_angstrom"] = PIXEL
        f.attrs["class_names"] = json.dumps(["background", "C", "Si"])
        f.attrs["source"] = "bench/multislice/make_devset.py (abTEM multislice)"
        ds = f.create_dataset("frames", data=np.stack(frames), chunks=(1, FRAME_PX, FRAME_PX), compression="gzip")
        ds.attrs["axes"] = "frame,y,x"
        f.attrs["frame_settings"] = json.dumps(settings_all)
        atoms = f.create_group("truth/atoms")
        for col, (name, dtype) in enumerate(
            [
                ("frame", "u4"),
                ("y", "f4"),
                ("x", "f4"),
                ("class", "u1"),
                ("z", "u1"),
                ("grain", "u1"),
                ("sublattice", "u1"),
            ]
        ):
            atoms.create_dataset(name, data=truth[:, col].astype(dtype))
    import os

    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}: {len(frames)} frames, {len(truth)} atoms, {int((truth[:, 3] == 2).sum())} Si")


if __name__ == "__main__":
    main()
