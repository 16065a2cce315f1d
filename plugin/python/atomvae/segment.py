"""Segmentation and atoms: the U-Net's class probabilities of frames, atoms found
in them, and windows cut around atoms (paper, Fig. 2 and Methods)."""

from __future__ import annotations

import json
import os

import numpy as np

from . import _library as L
from ._arrays import ATOM_DTYPE, as_float32, pixel_size_of, reading, writing
from .errors import InvalidArgument


class Segmenter(L.Handle):
    """A segmentation model: the embedded graphene model (no argument) or one loaded
    from a model file (``atomvae train-segmenter``'s ``.h5`` or compact bytes).

    >>> seg = Segmenter()
    >>> probabilities = seg.segment(frame, pixel_size=0.1)   # (classes, H, W)
    """

    _free = L.lib.atomvae_segmenter_free

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto"):
        out = L.ffi.new("AtomvaeSegmenter_t **")
        path = L.text(model)
        L.check(L.lib.atomvae_segmenter_new(path, L.device_code(device), out))
        super().__init__(out[0])
        self.config = json.loads(L.call_with_text(L.lib.atomvae_segmenter_config_json, self.pointer))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> Segmenter:
        """A model from a file."""
        return cls(path, device)

    @property
    def class_names(self) -> list[str]:
        """Class names, background first (e.g. ``['background', 'C', 'Si']``)."""
        return list(self.config["class_names"])

    @property
    def classes(self) -> int:
        return int(L.lib.atomvae_segmenter_classes(self.pointer))

    def segment(self, frames, pixel_size: float, progress: L.Progress | None = None) -> np.ndarray:
        """Class probabilities of a frame (H, W) → (classes, H, W), or of a stack
        (n, H, W) → (n, classes, H, W); ``pixel_size`` in Å/px. ``progress(fraction,
        phase)`` is called per frame of a stack; returning False cancels
        (:class:`atomvae.Cancelled`, nothing returned)."""
        frames = as_float32(frames, "frames", (2, 3))
        size = pixel_size_of(pixel_size)
        classes = self.classes
        if frames.ndim == 2:
            out = np.empty((classes, *frames.shape), np.float32)
            L.check(
                L.lib.atomvae_segment_frame(self.pointer, reading(frames), *frames.shape, size, writing(out), out.size)
            )
            if progress is not None:
                progress(1.0, "segment")
            return out
        out = np.empty((frames.shape[0], classes, *frames.shape[1:]), np.float32)
        bridge = L.ProgressBridge(progress)
        status = L.lib.atomvae_segment_stack(
            self.pointer, reading(frames), *frames.shape, size, writing(out), out.size, bridge.callback, L.ffi.NULL
        )
        bridge.finish(status)
        return out


def find_atoms(
    probabilities,
    pixel_size: float,
    threshold: float = 0.5,
    border: float = 0.0,
    frames=None,
    si_min_ratio: float = 2.0,
) -> np.ndarray:
    """Atoms in class probabilities (classes, H, W) or a stack (n, classes, H, W):
    a structured array with fields ``frame, y, x, class, confidence`` (positions in
    px, (0, 0) the centre of the top-left pixel). ``threshold`` on 1 − p(background);
    atoms closer than ``border`` px to an edge are dropped. With ``frames`` (the
    frame (H, W) or stack (n, H, W) the probabilities came from) an atom called Si
    stays Si only when it is at least ``si_min_ratio`` × as bright as the carbon
    around it, as in the ``atoms`` step; without them the network alone decides."""
    p = as_float32(probabilities, "probabilities", (3, 4))
    size = pixel_size_of(pixel_size)
    stack = p if p.ndim == 4 else p[None]
    images = None
    if frames is not None:
        images = as_float32(frames, "frames", (2, 3))
        images = images if images.ndim == 3 else images[None]
        if images.shape[0] != stack.shape[0] or images.shape[1:] != stack.shape[2:]:
            raise InvalidArgument(f"frames of shape {images.shape} do not match probabilities of shape {stack.shape}")
    parts = []
    count = L.ffi.new("size_t *")
    for index, frame in enumerate(stack):
        classes, height, width = frame.shape
        status = L.lib.atomvae_find_atoms(
            reading(frame), classes, height, width, size, threshold, border, L.ffi.NULL, 0, count
        )
        if int(status) not in (0, 5):
            L.check(status)
        rows = L.ffi.new("AtomvaeAtom_t[]", max(count[0], 1))
        L.check(
            L.lib.atomvae_find_atoms(
                reading(frame), classes, height, width, size, threshold, border, rows, count[0], count
            )
        )
        if images is not None:
            L.check(
                L.lib.atomvae_check_silicon(
                    reading(images[index]), height, width, size, float(si_min_ratio), rows, count[0], L.ffi.NULL
                )
            )
        found = np.empty(count[0], ATOM_DTYPE)
        raw = np.frombuffer(
            L.ffi.buffer(rows, L.ffi.sizeof("AtomvaeAtom_t") * count[0]),
            dtype=np.dtype(
                {
                    "names": ["y", "x", "class", "confidence"],
                    "formats": ["<f4", "<f4", "u1", "<f4"],
                    "offsets": [L.ffi.offsetof("AtomvaeAtom_t", f) for f in ("y", "x", "class_id", "confidence")],
                    "itemsize": L.ffi.sizeof("AtomvaeAtom_t"),
                }
            ),
        )
        found["frame"] = index
        for field in ("y", "x", "class", "confidence"):
            found[field] = raw[field]
        parts.append(found)
    return np.concatenate(parts) if parts else np.empty(0, ATOM_DTYPE)


def cut_windows(image, centres, window: int, bilinear: bool = False) -> np.ndarray:
    """Windows of ``window`` × ``window`` px around ``centres`` ((N, 2) rows of y, x
    in px, or an atom table) of a 2-D image → (N, window, window). Centres are
    rounded to pixels, or interpolated with ``bilinear``; pixels beyond the edge
    are zero."""
    image = as_float32(image, "image", (2,))
    if isinstance(centres, np.ndarray) and centres.dtype.names:
        centres = np.stack([centres["y"], centres["x"]], axis=1)
    yx = np.ascontiguousarray(np.asarray(centres, dtype=np.float32).reshape(-1, 2)) if len(centres) else None
    if yx is None:
        return np.empty((0, window, window), np.float32)
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise InvalidArgument(f"window must be a positive number of pixels, not {window!r}")
    out = np.empty((len(yx), window, window), np.float32)
    L.check(
        L.lib.atomvae_cut_windows(
            reading(image), *image.shape, reading(yx), len(yx), int(window), bool(bilinear), writing(out), out.size
        )
    )
    return out
