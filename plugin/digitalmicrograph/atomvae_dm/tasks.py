"""The two commands on DM's front image: checks, the run (off the UI thread, see
:mod:`atomvae_dm.runner`) and the result images, named and calibrated like the
source, with their provenance in the tags."""

import json
import os
import re

import numpy as np

from . import TASKS, Refused, dm, results, runner

PREFIX = "atomvae:"
ATOM_RADIUS_ANGSTROM = 0.6  # the label image's discs (as the maps' discs, docs/FORMAT.md)
TITLES = {"find-atoms": "atomvae: find atoms", "order-parameters": "atomvae: rVAE order parameters"}
ANALYSIS_SUFFIX = {"find-atoms": "_atomvae_atoms.h5", "order-parameters": "_atomvae_rvae.h5"}
LATENT_UNITS = {"angle": "rad"}


def run(task, settings=None, mode=None):
    if task not in TASKS:
        raise Refused(f"unknown command '{task}' (one of {', '.join(TASKS)}).")
    source = dm.front_image()
    if source is None:
        raise Refused("open an image or a stack of frames first (atomvae works on the front image).")
    name = dm.name_of(source)
    frames, stack = dm.frames_of(source)
    pixel_size = dm.pixel_size(source)
    calibrations = [dm.calibration(source, dim) for dim in range(3 if stack else 2)]
    settings = merged_settings(settings)
    folder, stem = output_place(source, name)
    analysis_path = os.path.join(folder, stem + ANALYSIS_SUFFIX[task])
    backend = runner.backend(mode)
    dm.log(f"{TITLES[task]}: '{name}', {len(frames)} frame(s) at {pixel_size:g} Å/px, {backend.name}")

    def work(progress):
        return backend.run(task, frames, pixel_size, settings, analysis_path, progress)

    arrays, meta = runner.run_with_progress(TITLES[task], work)
    common = {
        PREFIX + "Source image": name,
        PREFIX + "Command": task,
        PREFIX + "Mode": backend.name,
        PREFIX + "Version": meta["atomvae"],
        PREFIX + "Pixel size (A)": pixel_size,
        PREFIX + "Settings": json.dumps(settings),
        PREFIX + "Analysis file": meta["analysis_file"],
    }
    if task == "find-atoms":
        return show_atoms(source, name, calibrations, arrays, meta, common, os.path.join(folder, stem + "_atoms.csv"))
    return show_order_parameters(source, name, calibrations, arrays, common)


def merged_settings(explicit):
    """The persistent tag atomvae:Settings (JSON, e.g. {"training": {"epochs": 10}})
    with ``explicit`` laid over it, group by group."""
    text = dm.setting(PREFIX + "Settings", "ATOMVAE_DM_SETTINGS")
    try:
        stored = json.loads(text) if text else {}
    except ValueError as error:
        raise Refused(f"the persistent tag atomvae:Settings is not JSON ({error}).") from error
    merged = {group: dict(values) for group, values in stored.items()}
    for group, values in (explicit or {}).items():
        merged.setdefault(group, {}).update(values)
    return merged


def output_place(source, name):
    """(folder, file stem) for the CSV and the analysis file: beside the image's file,
    else the folder in atomvae:Output folder (or $ATOMVAE_DM_OUTPUT), else
    Documents/atomvae."""
    path = dm.document_path(source)
    if path and os.path.isdir(os.path.dirname(path)):
        return os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    folder = dm.setting(PREFIX + "Output folder", "ATOMVAE_DM_OUTPUT") or os.path.join(
        os.path.expanduser("~"), "Documents", "atomvae"
    )
    os.makedirs(folder, exist_ok=True)
    return folder, re.sub(r"[^\w.-]+", "_", name).strip("_") or "image"


def show_atoms(source, name, calibrations, arrays, meta, common, csv_path):
    """p(class) images, the atom label image, the atom table in tags and the CSV."""
    stack = len(calibrations) == 3
    class_names = meta["class_names"]
    probabilities = arrays["probabilities"]
    shown = {}
    for index in range(1, probabilities.shape[1]):
        kind = class_names[index]
        data = probabilities[:, index] if stack else probabilities[0, index]
        tags = dict(common, **{PREFIX + "Class": kind})
        shown["p(" + kind + ")"] = dm.show_image(data, f"{name} - p({kind})", calibrations, tags)
    atoms = results.atoms_of(arrays)
    pixel_size = common[PREFIX + "Pixel size (A)"]
    labels = results.label_image(
        atoms, (probabilities.shape[0],) + probabilities.shape[2:], ATOM_RADIUS_ANGSTROM / pixel_size
    )
    header, rows = results.atom_rows(atoms, class_names, calibrations[0], calibrations[1])
    results.write_csv(csv_path, header, rows)
    table = results.table_tags(PREFIX + "Atoms:", header, rows)
    table[PREFIX + "Atoms:CSV"] = csv_path
    legend = ", ".join(f"{i} {c}" for i, c in enumerate(class_names))
    tags = dict(common, **table, **{PREFIX + "Labels": legend})
    shown["atoms"] = dm.show_image(labels if stack else labels[0], f"{name} - atoms", calibrations, tags)
    dm.set_tags(source, dict(common, **table))
    dm.log(f"atomvae: {len(rows)} atoms; table in the tags of '{name}' and in {csv_path}")
    return shown


def show_order_parameters(source, name, calibrations, arrays, common):
    """Maps of angle and z1, their histograms (whole movie, and per frame for a
    stack), and the rVAE's latent manifold."""
    shown = {}
    mapped = [int(f) for f in arrays["maps_frames"]]
    frames_tag = {PREFIX + "Map frames": ",".join(str(f) for f in mapped)}
    for latent in ("angle", "z1"):
        unit = LATENT_UNITS.get(latent, "")
        maps = arrays["maps_" + latent]
        tags = dict(common, **frames_tag, **{PREFIX + "Latent": latent, PREFIX + "Note": "NaN away from atoms"})
        shown[latent + " map"] = dm.show_image(
            maps if len(maps) > 1 else maps[0],
            f"{name} - {latent} map",
            [calibrations[0], calibrations[1], (0.0, 1.0, "")],
            tags,
            intensity_unit=unit,
        )
        counts = arrays["histogram_" + latent].astype(np.float32)
        edges = arrays["histogram_" + latent + "_edges"]
        axis = results.histogram_calibration(edges, unit)
        # Full precision: a narrow histogram's edges differ in their 6th digit.
        edge_text = ",".join(repr(float(e)) for e in edges)
        tags = dict(common, **{PREFIX + "Latent": latent, PREFIX + "Bin edges": edge_text})
        shown[latent + " histogram"] = dm.show_image(counts.sum(axis=0), f"{name} - {latent} histogram", [axis], tags)
        if len(counts) > 1:
            frame_axis = calibrations[2] if len(calibrations) == 3 else (0.0, 1.0, "")
            shown[latent + " histogram per frame"] = dm.show_image(
                counts, f"{name} - {latent} histogram per frame", [axis, frame_axis], tags
            )
    manifold = arrays["manifold"]
    axis = ",".join(f"{v:.4g}" for v in arrays["manifold_axis"])
    same_pixels = manifold.shape[-1] == int(arrays["windows"][-1])
    pixel = (0.0, calibrations[0][1], calibrations[0][2]) if same_pixels else (0.0, 1.0, "")
    tags = dict(common, **{PREFIX + "Manifold:z1 (columns)": axis, PREFIX + "Manifold:z2 (rows)": axis})
    shown["manifold"] = dm.show_image(results.tile(manifold), f"{name} - rVAE manifold", [pixel, pixel], tags)
    summary = {
        PREFIX + "rVAE:Atoms": len(arrays["atoms_frame"]),
        PREFIX + "rVAE:Windows": int(arrays["windows"][0]),
        PREFIX + "rVAE:Analysis file": common[PREFIX + "Analysis file"],
    }
    dm.set_tags(source, summary)
    dm.log(
        f"atomvae: {summary[PREFIX + 'rVAE:Windows']} windows encoded; analysis in {common[PREFIX + 'Analysis file']}"
    )
    return shown
