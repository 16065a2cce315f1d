"""Array checks and conversions at the boundary: any real dtype and either memory
order in, one C-contiguous float32 copy (only when needed) out, with errors that
name the argument."""

from __future__ import annotations

import numpy as np

from ._library import ffi
from .errors import InvalidArgument

ATOM_DTYPE = np.dtype([("frame", "<u4"), ("y", "<f4"), ("x", "<f4"), ("class", "u1"), ("confidence", "<f4")])


def as_float32(value, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """``value`` as a C-contiguous float32 array with one of ``ndims`` dimensions."""
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - anything numpy cannot take
        raise InvalidArgument(f"{name} is not an array: {exc}") from exc
    if array.dtype.kind not in "biuf":
        raise InvalidArgument(f"{name} must hold real numbers, not {array.dtype}")
    if array.ndim not in ndims:
        wanted = " or ".join(f"{d}-D" for d in ndims)
        raise InvalidArgument(f"{name} must be {wanted}, got shape {array.shape}")
    if 0 in array.shape:
        raise InvalidArgument(f"{name} is empty (shape {array.shape})")
    return np.ascontiguousarray(array, dtype=np.float32)


def reading(array: np.ndarray, ctype: str = "float[]"):
    """A C pointer to a contiguous array's data, valid while ``array`` lives."""
    return ffi.from_buffer(ctype, array)


def writing(array: np.ndarray, ctype: str = "float[]"):
    return ffi.from_buffer(ctype, array, require_writable=True)


def pixel_size_of(value, name: str = "pixel_size") -> float:
    """A pixel size in Å/px; refuses a missing one (atomvae never guesses)."""
    if value is None:
        raise InvalidArgument(f"{name} is unknown: give the pixel size in Å/px (atomvae does not guess it)")
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be a number of Å/px, not {value!r}") from None
    if not np.isfinite(size) or size <= 0:
        raise InvalidArgument(f"{name} must be a positive number of Å/px, not {value!r}")
    return size
