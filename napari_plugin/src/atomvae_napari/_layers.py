"""atomvae results as napari layer data (``(data, kwargs, type)`` tuples), every
layer calibrated: the pixel size as ``scale`` in nm with ``units``, positions in the
frames' own pixels (atomvae's (0, 0) is the centre of the top-left pixel, as in
napari). Only arrays are placed and coloured here; all numbers come from the file."""

from __future__ import annotations

import numpy as np

NM_PER_ANGSTROM = 0.1
CLASS_COLOURS = {"C": (0.78, 0.78, 0.78, 1.0), "Si": (1.0, 0.5, 0.0, 1.0)}
PALETTE = [
    (0.3, 0.8, 1.0, 1.0),
    (0.9, 0.2, 0.9, 1.0),
    (0.2, 0.9, 0.3, 1.0),
    (1.0, 0.9, 0.1, 1.0),
    (1.0, 0.3, 0.3, 1.0),
    (0.5, 0.4, 1.0, 1.0),
    (0.6, 1.0, 0.8, 1.0),
    (1.0, 0.6, 0.8, 1.0),
]
PROBABILITY_COLORMAPS = {"C": "cyan", "Si": "magenta"}
NO_VALUE = (0.35, 0.35, 0.35, 0.6)
KEY = "atomvae"  # layer.metadata[KEY] = {"file", "pixel_size", "source"}


def latent_colormap(latent: str) -> str:
    return "turbo" if latent == "angle" else "viridis"


def pixel_size_of(layer) -> float | None:
    """The layer's pixel size in Å/px: from its scale when its units are lengths,
    else from atomvae's metadata, else None (unknown: never guessed)."""
    try:
        size = float((layer.scale[-1] * layer.units[-1]).to("angstrom").magnitude)
        if size > 0 and np.isfinite(size):
            return float(f"{size:.12g}")  # 0.02 nm is 0.2 Å, not 0.20000000000000004
    except Exception:  # noqa: BLE001 - pixel units or no units: not a length
        pass
    size = (layer.metadata or {}).get(KEY, {}).get("pixel_size")
    return float(size) if size else None


def calibration(pixel_size: float, ndim: int, like=None) -> dict:
    """scale (nm), units and translate for a layer of ``ndim`` dims over frames of
    ``pixel_size`` Å/px; the frame axis (and any offset) follows the layer ``like``."""
    s = pixel_size * NM_PER_ANGSTROM
    scale = [1.0] * (ndim - 2) + [s, s]
    units = ["pixel"] * (ndim - 2) + ["nm", "nm"]
    translate = [0.0] * ndim
    if like is not None and like.ndim == ndim:
        scale[:-2] = list(like.scale[:-2])
        units[:-2] = [str(u) for u in like.units[:-2]]
        translate = [float(t) for t in like.translate]
    return {"scale": tuple(scale), "units": tuple(units), "translate": tuple(translate)}


def image_layer(frames: np.ndarray, pixel_size: float, name: str, source: str | None = None) -> tuple:
    """A movie (frames, H, W) or a frame (H, W) as a calibrated Image layer."""
    meta = {"name": name, "colormap": "gray", "metadata": {KEY: {"pixel_size": pixel_size, "file": source}}}
    return frames, {**meta, **calibration(pixel_size, frames.ndim)}, "image"


def analysis_parts(file) -> dict | None:
    """What the plugin shows of ``/analysis`` (read once): ``histograms`` {latent:
    (counts (frames, bins), edges)}, ``maps`` {latent: (m, H, W)} with ``map_frames``,
    ``labels`` (GMM class per window) and ``manifold`` (n, n, w, w); None before it."""
    if "/analysis" not in file:
        return None
    names = [p[len("/analysis/") :] for p in file.datasets if p.startswith("/analysis/")]
    hist = [n.split("/")[1] for n in names if n.startswith("histograms/") and not n.endswith("_edges")]
    maps = [n.split("/")[1] for n in names if n.startswith("maps/") and n != "maps/frames"]
    read = file.read
    return {
        "histograms": {k: (read(f"/analysis/histograms/{k}"), read(f"/analysis/histograms/{k}_edges")) for k in hist},
        "maps": {k: read(f"/analysis/maps/{k}") for k in maps},
        "map_frames": read("/analysis/maps/frames") if "maps/frames" in names else None,
        "labels": read("/analysis/latent_gmm/labels") if "latent_gmm/labels" in names else None,
        "manifold": read("/analysis/rvae/manifold") if "rvae/manifold" in names else None,
    }


def colour_limits(analysis: dict | None) -> dict:
    """Each latent's histogram range (0.5–99.5 % of the movie), the colour limits."""
    hist = (analysis or {}).get("histograms", {})
    return {k: (float(edges[0]), float(edges[-1])) for k, (_, edges) in hist.items()}


def _features(file, atoms, analysis):
    """Per-atom columns: class (names), confidence, and once the rVAE ran each
    latent and the GMM class (NaN / -1 for atoms without a window)."""
    import pandas as pd

    names = file.class_names
    columns = {
        "class": pd.Categorical([names[c] for c in atoms["class"]], categories=names[1:]),
        "confidence": atoms["confidence"].astype(np.float32),
    }
    latents, windows = file.latents, file.window_atoms
    if latents is not None and windows is not None:
        rows = windows["atom_index"].astype(np.int64)
        for column in latents["columns"]:
            values = np.full(len(atoms), np.nan, np.float32)
            values[rows] = latents[column]
            columns[column] = values
        if analysis is not None and analysis["labels"] is not None:
            gmm = np.full(len(atoms), -1, np.int64)
            gmm[rows] = analysis["labels"]
            columns["gmm"] = gmm
    return pd.DataFrame(columns)


def point_colours(features, by: str, limits: tuple[float, float] | None = None) -> np.ndarray:
    """RGBA per atom: a fixed colour per class or GMM component, or a latent on its
    colormap (atoms without a value grey)."""
    from napari.utils.colormaps import ensure_colormap

    n = len(features)
    if by == "class":
        names = [str(c) for c in features["class"]]
        cycle = {}
        for name in dict.fromkeys(names):
            cycle[name] = CLASS_COLOURS.get(name, PALETTE[len(cycle) % len(PALETTE)])
        return np.array([cycle[c] for c in names], np.float32).reshape(n, 4)
    values = np.asarray(features[by], np.float64)
    colours = np.tile(np.array(NO_VALUE, np.float32), (n, 1))
    if by == "gmm":
        for i in np.flatnonzero(values >= 0):
            colours[i] = PALETTE[int(values[i]) % len(PALETTE)]
        return colours
    known = np.isfinite(values)
    if not known.any():
        return colours
    lo, hi = limits if limits is not None else (np.min(values[known]), np.max(values[known]))
    scaled = np.clip((values[known] - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
    colours[known] = ensure_colormap(latent_colormap(by)).map(scaled)
    return colours


def layers_from_file(file, parts, *, name: str, ndim: int, like=None, colour_by: str = "class", atom_size=0.7):
    """Layer data of an analysis file. ``parts`` ⊆ {frames, probabilities, atoms,
    maps, manifold}; ``ndim`` 2 for a single frame, 3 for a stack (points then
    carry their frame, so they follow the time slider)."""
    px = file.pixel_size
    analysis = analysis_parts(file) if ("maps" in parts or "manifold" in parts or "atoms" in parts) else None
    limits = colour_limits(analysis)
    meta = {KEY: {"file": file.path, "pixel_size": px, "limits": limits}}
    cal = calibration(px, ndim, like)
    squeeze = (lambda a: a[0]) if ndim == 2 else (lambda a: a)
    out = []
    if "frames" in parts:
        data, kwargs, kind = image_layer(squeeze(file.frames), px, name, file.path)
        out.append((data, {**kwargs, **cal}, kind))
    if "probabilities" in parts and file.probabilities is not None:
        p = file.probabilities
        for c, cls in enumerate(file.class_names):
            if c == 0:
                continue
            out.append(
                (
                    squeeze(p[:, c]),
                    {
                        "name": f"{name} p({cls})",
                        "colormap": PROBABILITY_COLORMAPS.get(cls, "yellow"),
                        "blending": "additive",
                        "opacity": 0.5,
                        "contrast_limits": (0.0, 1.0),
                        "metadata": meta,
                        **cal,
                    },
                    "image",
                )
            )
    atoms = file.atoms if "atoms" in parts else None
    atom_layer = []  # last, above the images
    if "atoms" in parts and atoms is not None:
        features = _features(file, atoms, analysis)
        positions = np.stack([atoms["frame"].astype(np.float32), atoms["y"], atoms["x"]], axis=1)
        positions = positions[:, 3 - ndim :]
        by = colour_by if colour_by in features else "class"
        atom_layer = [
            (
                positions,
                {
                    "name": f"{name} atoms",
                    "features": features,
                    "size": atom_size / px,
                    "border_width": 0.0,
                    "face_color": point_colours(features, by, limits.get(by)),
                    "metadata": meta,
                    **cal,
                },
                "points",
            )
        ]
    if "maps" in parts and analysis is not None and analysis["map_frames"] is not None:
        frames = analysis["map_frames"].astype(np.int64)
        for latent in ("angle", "z1", "z2"):
            if latent not in analysis["maps"]:
                continue
            full = np.full(file.shape, np.nan, np.float32)  # frames not mapped stay empty
            full[frames] = analysis["maps"][latent]
            shown = limits.get(latent) or (float(np.nanmin(full)), float(np.nanmax(full)))
            out.append(
                (
                    squeeze(full),
                    {
                        "name": f"{name} {latent} map",
                        "colormap": latent_colormap(latent),
                        "contrast_limits": shown,
                        "blending": "translucent",
                        "visible": latent == colour_by,
                        "metadata": meta,
                        **cal,
                    },
                    "image",
                )
            )
    if "manifold" in parts and analysis is not None and analysis["manifold"] is not None:
        grid = analysis["manifold"]
        n, _, w, _ = grid.shape
        tiles = grid.transpose(0, 2, 1, 3).reshape(n * w, n * w)  # row = z2, column = z1
        s = px * NM_PER_ANGSTROM
        right = cal["translate"][-1] + (file.shape[2] + 10) * s  # beside the frames
        out.append(
            (
                tiles,
                {
                    "name": f"{name} rVAE manifold",
                    "colormap": "gray",
                    "scale": (s, s),
                    "units": ("nm", "nm"),
                    "translate": (cal["translate"][-2], right),
                    "metadata": meta,
                },
                "image",
            )
        )
    return out + atom_layer
