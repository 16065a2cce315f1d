"""Reader (atomvae analysis .h5; .npy / .tif stacks), writer (the analysis .h5) and
sample data (a movie simulated by atomvae's library, no download)."""

from __future__ import annotations

import os

import numpy as np

from ._layers import KEY, image_layer, layers_from_file

PARTS = ("frames", "probabilities", "atoms", "maps", "manifold")


# --- reader ------------------------------------------------------------------


def get_reader(path):
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    extension = os.path.splitext(str(path))[1].lower()
    if extension in (".h5", ".hdf5"):
        import atomvae

        try:
            atomvae.AnalysisFile(path).close()
        except atomvae.AtomvaeError:
            return None  # not an atomvae file: let another reader take it
        return read_analysis
    if extension in (".npy", ".tif", ".tiff"):
        return read_stack
    return None


def read_analysis(path) -> list:
    """Every result of an analysis file as calibrated layers: frames, p(class),
    atoms (with class, confidence and, once analysed, latents and GMM class),
    latent maps and the rVAE manifold."""
    import atomvae

    path = path[0] if isinstance(path, list) else path
    with atomvae.AnalysisFile(path) as file:
        ndim = 2 if file.shape[0] == 1 else 3
        name = os.path.splitext(os.path.basename(path))[0]
        return layers_from_file(file, PARTS, name=name, ndim=ndim, colour_by="angle")


def read_stack(path) -> list:
    """A .npy or .tif frame or stack; calibrated when the file states its pixel size
    (by atomvae's own rules: a ``NAME.meta.json`` beside a .npy, the TIFF's
    atomvae/ImageJ description)."""
    import atomvae

    path = str(path[0] if isinstance(path, list) else path)
    if path.lower().endswith(".npy"):
        data = np.load(path, mmap_mode="r")
    else:
        import tifffile

        data = tifffile.imread(path)
    size = atomvae.movie_info(path)["pixel_size"]
    name = os.path.splitext(os.path.basename(path))[0]
    if size is None:
        from napari.utils.notifications import show_warning

        show_warning(f"atomvae: {name} does not state its pixel size; enter it in Find atoms (Å/px)")
        return [(data, {"name": name, "colormap": "gray"}, "image")]
    return [image_layer(data, size, name, path)]


# --- writer ------------------------------------------------------------------


def write_analysis(path: str, layer_data: list) -> list[str]:
    """The atomvae analysis file of the layers (a copy of their session's file), or a
    new one holding the first calibrated image layer's frames."""
    sources = [meta.get("metadata", {}).get(KEY, {}).get("file") for _, meta, _ in layer_data]
    kinds = [kind for _, _, kind in layer_data]
    ranked = sorted(
        (s for s in zip(sources, kinds, strict=True) if s[0] and os.path.exists(s[0])), key=lambda s: s[1] != "points"
    )
    if ranked:
        if os.path.abspath(ranked[0][0]) != os.path.abspath(path):
            import atomvae

            # The library's copy: an analysis file's large arrays live in part files.
            with atomvae.AnalysisFile(ranked[0][0]) as source:
                source.copy(path).close()
        return [path]
    import atomvae

    for data, meta, kind in layer_data:
        if kind == "image":
            size = _meta_pixel_size(meta)
            if size is None:
                raise atomvae.InvalidArgument(f"the pixel size of '{meta.get('name')}' is unknown: calibrate it first")
            atomvae.AnalysisFile.create(path, np.asarray(data), size).close()
            return [path]
    return []


def _meta_pixel_size(meta: dict) -> float | None:
    import pint

    try:
        unit = pint.get_application_registry()(str(meta["units"][-1]))
        return float((meta["scale"][-1] * unit).to("angstrom").magnitude)
    except Exception:  # noqa: BLE001 - no length unit
        return meta.get("metadata", {}).get(KEY, {}).get("pixel_size")


# --- sample data -------------------------------------------------------------


def _simulated(frames: int, size: int) -> list:
    import atomvae

    from ._jobs import session_path

    with atomvae.simulate_movie(session_path("simulated"), frames=frames, height=size, width=size) as movie:
        return [image_layer(movie.frames, movie.pixel_size, "simulated graphene", movie.path)]


def sample_movie() -> list:
    """Si-doped graphene with growing holes: 6 frames of 256 × 256 px at 0.2 Å/px."""
    return _simulated(6, 256)


def sample_movie_small() -> list:
    """The same, small: 3 frames of 160 × 160 px (a quick try)."""
    return _simulated(3, 160)
