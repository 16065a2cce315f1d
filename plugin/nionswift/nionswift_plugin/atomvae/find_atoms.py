"""The "Find atoms" computation: a frame or a movie → one class-probability data
item per atom class (calibrated like the source) and the atoms: point graphics on
the source's display for a frame, an atoms-per-frame line plot for a movie, and
the atom table in the outputs' metadata. Live sources recompute on each new
complete frame; Nion Swift coalesces updates that arrive while a run is going,
so a newer frame supersedes an older queued one."""

from __future__ import annotations

import dataclasses
import gettext
import typing

import numpy as np
from nion.data import Calibration, DataAndMetadata
from nion.swift.model import Graphics

from . import _engine
from ._frames import Frames, frames_of, like_frames, set_output, source_display, source_title
from ._parameters import Parameter

_ = gettext.gettext

PROCESSING_ID = "atomvae.find-atoms"
ATOM_GRAPHIC_ID = "atomvae.atom"
# Stroke colours of the point graphics by class id (1 = C, 2 = Si for the embedded model).
CLASS_COLOURS = {1: "#FFA500", 2: "#00E5FF", 3: "#FF4DFF", 4: "#7CFC00"}


@dataclasses.dataclass
class Found:
    frames: Frames
    probabilities: np.ndarray  # (classes, H, W) or (n, classes, H, W)
    atoms: np.ndarray  # atomvae.ATOM_DTYPE
    class_names: list[str]
    settings: dict  # threshold, border (what atomvae.find_atoms took)
    max_marks: int

    @property
    def marks(self) -> np.ndarray:
        """The atoms to mark with graphics: those of a frame, unless there are too many."""
        if self.frames.is_movie or len(self.atoms) > self.max_marks:
            return self.atoms[:0]
        return self.atoms

    def table(self) -> dict:
        """The atom table for metadata: columns as lists (positions in px, (0, 0) the
        centre of the top-left pixel), with units, counts and whether it is marked."""
        atoms = self.atoms
        return {
            "columns": ["frame", "y", "x", "class", "confidence"],
            "frame": atoms["frame"].astype(int).tolist(),
            "y": np.round(atoms["y"].astype(float), 3).tolist(),
            "x": np.round(atoms["x"].astype(float), 3).tolist(),
            "class": atoms["class"].astype(int).tolist(),
            "confidence": np.round(atoms["confidence"].astype(float), 4).tolist(),
            "class_names": self.class_names,
            "counts": {name: int(np.sum(atoms["class"] == k)) for k, name in enumerate(self.class_names) if k},
            "position_units": "px",
            "pixel_size_angstrom": self.frames.pixel_size,
            "marked_as_graphics": len(self.marks),
        }


class FindAtoms:
    """Computation handler (``Symbolic.register_computation_type``)."""

    label = _("Find atoms (atomvae)")
    parameters = (
        Parameter("threshold", _("Threshold on 1 − p(background)"), 0.5, 0.01, 0.99),
        Parameter("border", _("Border (px): atoms nearer the edge are dropped"), 0.0, 0.0, 256.0),
        Parameter("max_marks", _("Most atoms marked as graphics (0: none)"), 400, 0, 5000),
    )
    inputs = {"src": {"label": _("Frame or movie")}, **{p.name: {"label": p.label} for p in parameters}}

    def __init__(self, computation, **kwargs: typing.Any) -> None:
        self.computation = computation
        self.__found: Found | None = None

    # nionswift ≥ 16.17: progress and stop through the execution context.
    def execute_task(self, context) -> None:
        self.__found = self._find(dict(context.parameters.parameter_map), _engine.Progress(context))

    # older nionswift: no context, so no progress and no stop.
    def execute(self, **kwargs: typing.Any) -> None:
        self.__found = self._find(kwargs, _engine.Progress(None))

    def _find(self, arguments: dict, progress: _engine.Progress) -> Found | None:
        frames = frames_of(arguments.get("src"), source_title(self.computation))
        if frames.is_partial():
            return None  # a live scan mid-frame: keep the last result until the frame is complete
        value = {p.name: p.value_of(arguments) for p in self.parameters}
        settings = {"threshold": value["threshold"], "border": value["border"]}
        atomvae = _engine.atomvae()
        progress.check()
        segmenter = _engine.segmenter()
        probabilities = segmenter.segment(frames.data, frames.pixel_size, progress=progress.part(0.0, 0.95))
        progress.check()
        # With the frames, a Si is checked against the carbon around it (as `atoms` does).
        atoms = atomvae.find_atoms(probabilities, frames.pixel_size, frames=frames.data, **settings)
        progress(1.0)
        return Found(frames, probabilities, atoms, segmenter.class_names, settings, value["max_marks"])

    def commit(self) -> None:
        found = self.__found
        if found is None:
            return
        table = found.table()
        title = found.frames.title
        for k, name in enumerate(found.class_names[1:], start=1):
            p = found.probabilities[:, k] if found.frames.is_movie else found.probabilities[k]
            metadata = {"atomvae": {"class": name, "settings": found.settings, "atoms": table}}
            set_output(
                self.computation,
                f"probability_{name}",
                like_frames(found.frames, p, metadata=metadata),
                f"{title} p({name})",
            )
        if found.frames.is_movie:
            set_output(self.computation, "atom_counts", self._counts(found, table), f"{title} atoms per frame")
        document_model, display_item = source_display(self.computation)
        if display_item is not None:
            with document_model.item_transaction(display_item):  # one write for all the graphics
                place_atoms(display_item, atom_graphic_id(self.computation), found.marks, found.frames.data.shape)

    @staticmethod
    def _counts(found: Found, table: dict) -> DataAndMetadata.DataAndMetadata:
        """Atoms per frame and class (classes − 1, frames): one line per class."""
        counts = np.zeros((len(found.class_names) - 1, found.frames.data.shape[0]), np.float32)
        np.add.at(counts, (found.atoms["class"].astype(int) - 1, found.atoms["frame"].astype(int)), 1)
        return DataAndMetadata.new_data_and_metadata(
            counts,
            intensity_calibration=Calibration.Calibration(units="atoms"),
            dimensional_calibrations=[Calibration.Calibration(), found.frames.sequence_calibration],
            metadata={"atomvae": {"rows": found.class_names[1:], "settings": found.settings, "atoms": table}},
            data_descriptor=DataAndMetadata.DataDescriptor(False, 1, 1),
        )


def atom_graphic_id(computation) -> str:
    """The ``graphic_id`` of a Find atoms computation's point graphics."""
    return f"{ATOM_GRAPHIC_ID}:{computation.uuid}"


def place_atoms(display_item, graphic_id: str, atoms: np.ndarray, shape: tuple[int, ...]) -> None:
    """Point graphics with ``graphic_id`` on a display item, one per atom, coloured
    by class. Existing ones are moved rather than rebuilt (live frames), the rest
    removed. They are not computation outputs: Nion Swift rebinds a list output
    item by item, which takes minutes for a few hundred atoms."""
    height, width = shape[-2:]
    old = [g for g in display_item.graphics if g.graphic_id == graphic_id]
    for index, atom in enumerate(atoms):
        graphic = old[index] if index < len(old) else Graphics.PointGraphic()
        position = ((float(atom["y"]) + 0.5) / height, (float(atom["x"]) + 0.5) / width)
        colour = CLASS_COLOURS.get(int(atom["class"]), "#FFFFFF")
        if tuple(graphic.position) != position:
            graphic.position = position
        if graphic.stroke_color != colour:
            graphic.stroke_color = colour
        if index >= len(old):
            graphic.graphic_id = graphic_id
            graphic.is_position_locked = True
            display_item.add_graphic(graphic)
    for graphic in old[len(atoms) :]:
        display_item.remove_graphic(graphic).close()


def remove_atom_graphics(display_item) -> int:
    """Removes every atomvae point graphic from a display item; returns how many."""
    graphics = [g for g in display_item.graphics if (g.graphic_id or "").startswith(ATOM_GRAPHIC_ID)]
    for graphic in graphics:
        display_item.remove_graphic(graphic).close()
    return len(graphics)
