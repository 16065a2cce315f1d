"""Frames in, calibrated data out: the pixel size of a Nion Swift data item's
calibrations (atomvae never guesses it), the checks that a data item holds a frame
or a movie, and new data that keeps the source's calibrations. numpy and niondata
only (no atomvae here, so nothing heavy is imported when Nion Swift starts)."""

from __future__ import annotations

import dataclasses

import numpy as np
from nion.data import Calibration, DataAndMetadata

# Length units Nion Swift and its instruments write, in Å.
ANGSTROM_PER_UNIT = {
    "å": 1.0,
    "Å": 1.0,
    "a": 1.0,
    "angstrom": 1.0,
    "nm": 10.0,
    "pm": 0.01,
    "µm": 1.0e4,
    "μm": 1.0e4,
    "um": 1.0e4,
}


class InputError(ValueError):
    """A data item atomvae cannot take; the message goes to the computation's error text."""


@dataclasses.dataclass
class Frames:
    """A frame (H, W) or a movie (n, H, W) taken from a data item."""

    data: np.ndarray
    pixel_size: float  # Å/px
    xdata: DataAndMetadata.DataAndMetadata
    title: str

    @property
    def is_movie(self) -> bool:
        return self.data.ndim == 3

    @property
    def spatial_calibrations(self) -> list[Calibration.Calibration]:
        return list(self.xdata.datum_dimensional_calibrations)

    @property
    def sequence_calibration(self) -> Calibration.Calibration:
        return self.xdata.dimensional_calibrations[0] if self.is_movie else Calibration.Calibration()

    def is_partial(self) -> bool:
        """Whether a live scan is still filling this frame (its metadata says fewer valid rows)."""
        metadata = self.xdata.metadata or {}
        for key in ("scan", "hardware_source"):
            section = metadata.get(key)
            rows = section.get("valid_rows") if isinstance(section, dict) else None
            if isinstance(rows, (int, float)) and rows < self.data.shape[-2]:
                return True
        return False


def pixel_size_angstrom(calibrations) -> float:
    """The pixel size in Å/px of two spatial calibrations (y, x), or InputError."""
    sizes = []
    for axis, calibration in zip(("y", "x"), calibrations, strict=True):
        units = (calibration.units or "").strip()
        if not units:
            raise InputError(
                f"the {axis} axis is uncalibrated: give the data item its pixel size in nm or Å "
                "(Inspector ▸ Calibrations); atomvae does not guess it"
            )
        factor = ANGSTROM_PER_UNIT.get(units, ANGSTROM_PER_UNIT.get(units.lower()))
        if factor is None:
            raise InputError(
                f"the {axis} axis is in '{units}', not a length: atomvae needs frames in real space (nm or Å)"
            )
        size = abs(float(calibration.scale)) * factor
        if not np.isfinite(size) or size <= 0:
            raise InputError(f"the {axis} axis has a pixel size of {calibration.scale} {units}")
        sizes.append(size)
    if abs(sizes[0] - sizes[1]) > 0.01 * max(sizes):
        raise InputError(f"pixels are not square ({sizes[0]:.4g} Å × {sizes[1]:.4g} Å): atomvae needs square pixels")
    return sizes[1]


def frames_of(source, title: str, *, movie_only: bool = False) -> Frames:
    """The frames of a computation's source (a data source or data item with
    ``xdata``): a 2-D image or a sequence of 2-D images."""
    xdata = source.xdata if source is not None else None
    if xdata is None or xdata.data is None:
        raise InputError("the source data item has no data")
    title = title or "data item"
    if xdata.is_data_rgb_type or xdata.is_data_complex_type or xdata.data.dtype.kind not in "biuf":
        raise InputError(
            f"'{title}' does not hold real intensities ({xdata.data.dtype}): atomvae takes grayscale frames"
        )
    if xdata.datum_dimension_count != 2 or xdata.is_collection:
        raise InputError(f"'{title}' is {xdata.data_descriptor}: atomvae takes an image or a sequence of images")
    if movie_only and not xdata.is_sequence:
        raise InputError(f"'{title}' is a single image: this needs a movie (a sequence of images)")
    data = np.asarray(xdata.data)
    if 0 in data.shape:
        raise InputError(f"'{title}' is empty ({data.shape})")
    return Frames(data, pixel_size_angstrom(xdata.datum_dimensional_calibrations), xdata, title)


def like_frames(
    frames: Frames,
    data: np.ndarray,
    *,
    units: str = "",
    metadata: dict | None = None,
    sequence: Calibration.Calibration | None = None,
) -> DataAndMetadata.DataAndMetadata:
    """Images (H, W) or a sequence (m, H, W) on the frames' pixel grid, with their calibrations.
    ``sequence`` replaces the sequence axis' calibration (e.g. for a subset of the frames)."""
    calibrations = frames.spatial_calibrations
    if data.ndim == 3:
        calibrations = [sequence or frames.sequence_calibration, *calibrations]
    return DataAndMetadata.new_data_and_metadata(
        np.ascontiguousarray(data),
        intensity_calibration=Calibration.Calibration(units=units),
        dimensional_calibrations=calibrations,
        metadata=metadata or {},
        data_descriptor=DataAndMetadata.DataDescriptor(data.ndim == 3, 0, 2),
    )


def window_calibrations(frames: Frames) -> list[Calibration.Calibration]:
    """Calibrations of windows cut from the frames (same scale and units, no offset)."""
    return [Calibration.Calibration(scale=c.scale, units=c.units) for c in frames.spatial_calibrations]


def source_data_item(computation):
    """The model data item a Facade computation's ``src`` input is bound to, or None."""
    return computation._computation.get_input_data_item("src")


def source_title(computation) -> str:
    data_item = source_data_item(computation)
    return data_item.title if data_item is not None else ""


def source_display(computation):
    """The document model and the display item showing the computation's source
    data item (None, None when there is none)."""
    data_item = source_data_item(computation)
    document_model = getattr(data_item, "_document_model", None) if data_item is not None else None
    if document_model is None:
        return None, None
    return document_model, document_model.get_best_display_item_for_data_item(data_item)


def set_output(
    computation, name: str, xdata: DataAndMetadata.DataAndMetadata, title: str, *, color_map: str | None = None
) -> None:
    """Puts ``xdata`` into the computation's output data item ``name``, made (titled,
    coloured, and shown as a line plot if 1-D) on first use. Data with NaN (latent
    maps: NaN off the atoms) gets display limits from its finite values, which
    Nion Swift's automatic range cannot find (it shows such data black)."""
    created = computation.get_result(name) is None
    computation.set_referenced_xdata(name, xdata)
    data_item = computation.get_result(name)
    if data_item is None:
        return
    channel = data_item.display._display_item.display_data_channel
    if created:
        data_item.title = title
        if xdata.datum_dimension_count == 1:
            data_item.display.display_type = "line_plot"
        if color_map and channel is not None:
            channel.color_map_id = color_map
    data = xdata.data
    if channel is not None and data.dtype.kind == "f" and np.isnan(data).any():
        finite = data[np.isfinite(data)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        # a margin below the lowest value keeps every atom off the colour of "no atom" (NaN is drawn as the lowest)
        channel.display_limits = (low - 0.1 * (high - low or 1.0), high)
