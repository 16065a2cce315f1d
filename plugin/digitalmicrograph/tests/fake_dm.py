"""A fake ``DigitalMicrograph`` module, written from Gatan's documented behaviour
(README.md, "DM API surface"), installed into ``sys.modules`` by the tests.

What it holds to, as documented: ``GetNumArray`` shares the image's memory and
reverses DM's dimension order (an X×Y×Z stack is a (Z, Y, X) array); display
changes need ``UpdateImage``; ``CreateImage`` takes only C-contiguous arrays of
DM's pixel types; tag groups return ``(found, value)``; calibrations are
``(origin, scale, unit)`` per DM dimension. Dialogs, progress-window lines,
``DoEvents`` calls and shown images are recorded for the tests to check.
"""

import sys
import threading
import types

import numpy as np

PIXEL_TYPES = {np.dtype(t) for t in ("i1", "u1", "i2", "u2", "i4", "u4", "f4", "f8", "c8", "c16")}


class State:
    def __init__(self):
        self.front = None
        self.created = []  # every image CreateImage made, in order
        self.shown = []
        self.dialogs = []
        self.progress = []
        self.progress_closed = 0
        self.doevents = 0
        self.keys_down = False
        self.on_doevents = None  # a test's hook, called with the number of DoEvents so far
        self.persistent = Py_TagGroup()
        self.off_thread = []  # DM calls made from another thread than the script's


class Py_TagGroup:
    def __init__(self):
        self.tags = {}

    def _set(self, path, value, kind):
        if not isinstance(path, str) or not path or path.startswith(":") or path.endswith(":"):
            raise ValueError(f"bad tag path {path!r}")
        if not isinstance(value, kind):
            raise TypeError(f"{path}: {type(value).__name__} is not {kind}")
        self.tags[path] = value

    def _get(self, path, kind, empty):
        value = self.tags.get(path)
        if isinstance(value, kind) and not (kind is float and isinstance(value, bool)):
            return True, value
        return False, empty

    def SetTagAsString(self, path, value):
        self._set(path, value, str)

    def SetTagAsFloat(self, path, value):
        self._set(path, float(value), float)

    def SetTagAsBoolean(self, path, value):
        self._set(path, value, bool)

    def GetTagAsString(self, path):
        return self._get(path, str, "")

    def GetTagAsFloat(self, path):
        return self._get(path, float, 0.0)

    def GetTagAsBoolean(self, path):
        return self._get(path, bool, False)

    def IsValid(self):
        return True


class Py_ImageDocument:
    def __init__(self, path):
        self.path = path

    def GetCurrentFile(self):
        return self.path


class Py_Image:
    def __init__(self, data, name=""):
        self._data = data
        self._name = name
        self._calibrations = [(0.0, 1.0, "") for _ in range(data.ndim)]
        self._intensity_unit = ""
        self._tags = Py_TagGroup()
        self._file = ""
        self.updates = 0

    def IsValid(self):
        return True

    def GetNumArray(self):
        return self._data  # the image's own memory, dimensions reversed

    def GetNumDimensions(self):
        return self._data.ndim

    def GetDimensionCalibration(self, dim, units_flag):
        assert units_flag == 0, "atomvae_dm reads origins in pixels"
        return self._calibrations[dim]

    def SetDimensionCalibration(self, dim, origin, scale, unit, units_flag):
        assert units_flag == 0 and isinstance(unit, str) and 0 <= dim < self._data.ndim
        self._calibrations[dim] = (float(origin), float(scale), unit)

    def SetIntensityUnitString(self, unit):
        self._intensity_unit = unit

    def GetName(self):
        return self._name

    def SetName(self, name):
        self._name = name

    def GetTagGroup(self):
        return self._tags

    def GetOrCreateImageDocument(self):
        return Py_ImageDocument(self._file)

    def ShowImage(self):
        state.shown.append(self)
        state.front = self

    def UpdateImage(self):
        self.updates += 1


def _script_thread_only(function):
    """Records calls from other threads: atomvae_dm's worker thread must never call DM."""

    def call(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            state.off_thread.append(function.__name__)
        return function(*args, **kwargs)

    call.__name__ = function.__name__
    return call


for _class in (Py_TagGroup, Py_ImageDocument, Py_Image):
    for _name, _method in list(vars(_class).items()):
        if _name[:1].isupper():
            setattr(_class, _name, _script_thread_only(_method))

state = State()


def CreateImage(array):
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise ValueError("CreateImage: the array must be C-contiguous")
    if array.dtype not in PIXEL_TYPES:
        raise TypeError(f"CreateImage: no DM pixel type for {array.dtype}")
    image = Py_Image(array.copy())
    state.created.append(image)
    return image


def GetFrontImage():
    if state.front is None:
        raise RuntimeError("No image is open")
    return state.front


def GetPersistentTagGroup():
    return state.persistent


def OkDialog(text):
    state.dialogs.append(text)


def DoEvents():
    state.doevents += 1
    if state.on_doevents is not None:
        state.on_doevents(state.doevents)


def IsScriptOnMainThread():
    return True


def OpenAndSetProgressWindow(line1, line2, line3):
    state.progress.append((line1, line2, line3))


def CloseProgressWindow():
    state.progress_closed += 1


def ShiftDown():
    return state.keys_down


def ControlDown():
    return state.keys_down


def install():
    """Puts this module into sys.modules as ``DigitalMicrograph`` (once) and
    starts a fresh state."""
    global state
    module = sys.modules.get("DigitalMicrograph")
    if module is None:
        module = types.ModuleType("DigitalMicrograph")
        sys.modules["DigitalMicrograph"] = module
    state = State()
    for name in (
        "CreateImage",
        "GetFrontImage",
        "GetPersistentTagGroup",
        "OkDialog",
        "DoEvents",
        "IsScriptOnMainThread",
        "OpenAndSetProgressWindow",
        "CloseProgressWindow",
        "ShiftDown",
        "ControlDown",
    ):
        setattr(module, name, _script_thread_only(globals()[name]))
    module.Py_Image = Py_Image
    module.state = state
    return module


def source_image(frames, scale, unit, name="movie", z=(0.0, 1.0, "")):
    """A front image the user opened: (H, W) or (n, H, W) pixels, x and y calibrated."""
    image = Py_Image(np.ascontiguousarray(frames), name)
    image._calibrations[0] = image._calibrations[1] = (0.0, scale, unit)
    if image._data.ndim == 3:
        image._calibrations[2] = z
    state.front = image
    return image
