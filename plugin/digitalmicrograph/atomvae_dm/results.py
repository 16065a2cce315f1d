"""Turning atomvae's arrays into what DM shows: a label image of the atoms, the atom
table as tags and CSV, the manifold as one tiled image, histogram calibrations.
Plain numpy (any version GMS ships), no DigitalMicrograph and no science.
"""

import csv

import numpy as np

ATOM_FIELDS = ("frame", "y", "x", "class", "confidence")


def label_image(atoms, shape, radius_px):
    """uint8 (frames, H, W): each atom a disc of ``radius_px`` holding its class id."""
    labels = np.zeros(shape, np.uint8)
    r = max(int(np.ceil(radius_px)), 0)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dy**2 + dx**2 <= max(radius_px, 0.5) ** 2
    rows = np.rint(atoms["y"]).astype(np.int64)
    cols = np.rint(atoms["x"]).astype(np.int64)
    frames = atoms["frame"].astype(np.int64)
    classes = atoms["class"].astype(np.uint8)
    for oy, ox in np.column_stack([dy[inside], dx[inside]]):
        y, x = rows + oy, cols + ox
        keep = (y >= 0) & (y < shape[1]) & (x >= 0) & (x < shape[2])
        labels[frames[keep], y[keep], x[keep]] = classes[keep]
    return labels


def atom_rows(atoms, class_names, x_calibration, y_calibration):
    """The atom table as (header, rows): positions in px and in the image's unit
    (DM's calibrated value = (pixel - origin) × scale)."""
    (x_origin, x_scale, unit), (y_origin, y_scale, _) = x_calibration, y_calibration
    header = ["frame", "y_px", "x_px", f"y_{unit}", f"x_{unit}", "class", "class_name", "confidence"]
    rows = []
    for atom in atoms.tolist():  # tuples in ATOM_FIELDS order
        frame, y, x, kind, confidence = atom
        name = class_names[kind] if kind < len(class_names) else str(kind)
        rows.append(
            [
                int(frame),
                f"{y:.3f}",
                f"{x:.3f}",
                f"{(y - y_origin) * y_scale:.5g}",
                f"{(x - x_origin) * x_scale:.5g}",
                int(kind),
                name,
                f"{confidence:.4f}",
            ]
        )
    return header, rows


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def table_tags(prefix, header, rows):
    """The atom table as tags: one string per column (values separated by ',')."""
    tags = {prefix + "Count": len(rows), prefix + "Columns": ",".join(header)}
    for index, column in enumerate(header):
        tags[prefix + "Column:" + column] = ",".join(str(row[index]) for row in rows)
    return tags


def tile(manifold):
    """(n, n, w, w) decoded windows → one (n·w, n·w) image; row i, column j is
    manifold[i, j] (z2 down the rows, z1 along the columns)."""
    n_rows, n_cols, h, w = manifold.shape
    return np.ascontiguousarray(manifold.transpose(0, 2, 1, 3).reshape(n_rows * h, n_cols * w), dtype=np.float32)


def histogram_calibration(edges, unit):
    """DM calibration (origin px, scale, unit) of bins with these edges: pixel i is
    the bin starting at edges[i]."""
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    width = width if width > 0 else 1.0
    return (-float(edges[0]) / width, width, unit)


def atoms_of(arrays):
    """The atom table (a structured array) from the flat arrays of a pipeline run."""
    fields = {f: np.asarray(arrays["atoms_" + f]) for f in ATOM_FIELDS}
    table = np.empty(len(fields["frame"]), [(f, fields[f].dtype) for f in ATOM_FIELDS])
    for name in ATOM_FIELDS:
        table[name] = fields[name]
    return table
