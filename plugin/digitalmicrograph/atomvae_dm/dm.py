"""Every call into DigitalMicrograph's Python API, in one module: the surface
listed in README.md ("DM API surface") to check once on a real GMS.

Calls marked *display only* are not confirmed for DM's Python by Gatan's pages
(only for DM-script / the plug-in SDK); they go through :func:`_optional`, so a
GMS without them still computes and shows every result.
"""

import os

import DigitalMicrograph as DM
import numpy as np

from . import Refused

# Length units DM writes in calibrations, as Å per unit (lower-cased; bytes are
# decoded as Latin-1, e.g. b"\xb5m" for µm, b"\xc5" for Å).
ANGSTROM_PER_UNIT = {
    "nm": 10.0,
    "å": 1.0,
    "a": 1.0,
    "angstrom": 1.0,
    "ångström": 1.0,
    "pm": 0.01,
    "µm": 1e4,
    "μm": 1e4,
    "um": 1e4,
}
CANCEL_TAG = "atomvae:Cancel"


def _optional(name, *args):
    """Calls ``DM.<name>(*args)`` where this GMS has it (display only); None otherwise."""
    function = getattr(DM, name, None)
    if function is None:
        return None
    try:
        return function(*args)
    except Exception:  # noqa: BLE001 - a display detail never stops the analysis
        return None


# --- the source image -------------------------------------------------------------


def front_image():
    """DM's front image, or None when no image is open."""
    try:
        image = DM.GetFrontImage()
    except Exception:  # noqa: BLE001 - GetFrontImage throws when no image is open
        return None
    if image is None or (hasattr(image, "IsValid") and not image.IsValid()):
        return None
    return image


def frames_of(image):
    """(frames, is_stack): the pixels as a float32 (frames, H, W) copy (DM's X×Y[×Z]
    arrives from GetNumArray reversed, as (Z, Y, X), sharing the image's memory)."""
    data = image.GetNumArray()
    if data.ndim not in (2, 3):
        raise Refused(f"'{name_of(image)}' has {data.ndim} dimensions; atomvae takes an image or a stack (2-D or 3-D).")
    if data.dtype.kind not in "biuf":
        raise Refused(f"'{name_of(image)}' holds {data.dtype} pixels; atomvae takes real numbers.")
    frames = np.array(data, dtype=np.float32, copy=True)
    return (frames, True) if frames.ndim == 3 else (frames[None], False)


def name_of(image):
    return str(image.GetName())


def calibration(image, dim):
    """(origin in px, scale per px, unit) of dimension ``dim`` (0 = x, 1 = y, 2 = z)."""
    origin, scale, unit = image.GetDimensionCalibration(dim, 0)
    if isinstance(unit, bytes):
        unit = unit.decode("latin-1")
    return float(origin), float(scale), str(unit)


def pixel_size(image):
    """The pixel size in Å/px from the x and y calibrations; refuses images that are
    not calibrated in lengths or whose pixels are not square."""
    name = name_of(image)
    sizes = []
    for dim, axis in ((0, "x"), (1, "y")):
        _, scale, unit = calibration(image, dim)
        factor = ANGSTROM_PER_UNIT.get(unit.strip().lower())
        if factor is None or not np.isfinite(scale) or scale <= 0:
            raise Refused(
                f"'{name}' is not calibrated in lengths ({axis}: scale {scale:g}, unit '{unit}'). "
                "atomvae needs the pixel size: calibrate the image in nm or Å (Image > Calibrate...)."
            )
        sizes.append(scale * factor)
    if abs(sizes[0] - sizes[1]) > 1e-3 * max(sizes):
        raise Refused(f"'{name}' has non-square pixels ({sizes[0]:g} × {sizes[1]:g} Å); atomvae needs square pixels.")
    return sizes[0]


def document_path(image):
    """The file the image was opened from or saved to, or '' (display only)."""
    try:
        document = image.GetOrCreateImageDocument()
        return str(document.GetCurrentFile() or "")
    except Exception:  # noqa: BLE001 - unsaved images, or a GMS without the call
        return ""


# --- results ----------------------------------------------------------------------


def show_image(array, name, calibrations, tags, intensity_unit=""):
    """A new DM image of ``array`` (numpy order: (Z, Y, X) shows as X×Y×Z), named,
    calibrated per DM dimension ((origin px, scale, unit) for x, y, z), tagged and
    shown. CreateImage takes only C-contiguous arrays, hence the copy."""
    image = DM.CreateImage(np.ascontiguousarray(array))
    image.SetName(name)
    for dim, (origin, scale, unit) in enumerate(calibrations[: np.ndim(array)]):
        image.SetDimensionCalibration(dim, float(origin), float(scale), unit, 0)
    if intensity_unit:
        image.SetIntensityUnitString(intensity_unit)
    set_tags(image, tags)
    image.ShowImage()
    return image


def set_tags(image, tags):
    """Tags by path ("group:label") with string, number or boolean values."""
    group = image.GetTagGroup()
    for path, value in tags.items():
        if isinstance(value, (bool, np.bool_)):
            group.SetTagAsBoolean(path, bool(value))
        elif isinstance(value, (int, float, np.integer, np.floating)):
            group.SetTagAsFloat(path, float(value))
        else:
            group.SetTagAsString(path, str(value))


# --- the user -----------------------------------------------------------------------


def message(text):
    """A modal message (DM.OkDialog; DM's ErrorDialog takes an error code, not text)."""
    log(text)
    DM.OkDialog(text)


def log(text):
    """A line in GMS's Output window (print goes there)."""
    print(text)


def on_main_thread():
    function = getattr(DM, "IsScriptOnMainThread", None)
    return True if function is None else bool(function())


def pump():
    """Lets DM handle its pending UI events while the script's thread waits."""
    DM.DoEvents()


def show_progress(title, line2, line3):
    _optional("OpenAndSetProgressWindow", title, line2, line3)


def close_progress():
    _optional("CloseProgressWindow")


def persistent_string(path):
    """A string from DM's persistent (Global Info) tags, or None."""
    found, value = DM.GetPersistentTagGroup().GetTagAsString(path)
    return str(value) if found else None


def clear_cancel():
    DM.GetPersistentTagGroup().SetTagAsString(CANCEL_TAG, "0")


def cancel_requested():
    """Shift+Ctrl held (display only) or the 'atomvae: cancel' menu command's tag."""
    if _optional("ShiftDown") and _optional("ControlDown"):
        return True
    return persistent_string(CANCEL_TAG) == "1"


def setting(path, environment):
    """A user setting: the environment variable, else DM's persistent tag ``path``."""
    return os.environ.get(environment) or persistent_string(path)
