"""atomvae: order parameters from atom-resolved STEM movies (after Kalinin, Dyck,
Jesse & Ziatdinov, Sci. Adv. 7, eabd5084, 2021), from Python.

A thin package over atomvae's C ABI: numpy arrays in and out, progress callbacks
that can cancel, the GIL released during every native call, one exception class
per library status. All computation happens in the Rust library.

Importing it imports torch first (atomvae runs on libtorch 2.13.0, which the
``torch==2.13.0`` wheel provides).
"""

from __future__ import annotations

from . import _library as _L
from .analysis import STEPS, AnalysisFile, analyze, import_movie, movie_info, rename_analysis, simulate_movie
from .errors import (
    AtomvaeError,
    BadModel,
    BufferTooSmall,
    Cancelled,
    DeviceUnavailable,
    FileError,
    InternalError,
    InvalidArgument,
)
from .rvae import Rvae, settings
from .segment import Segmenter, cut_windows, find_atoms

__version__ = _L.ffi.string(_L.lib.atomvae_version()).decode()
from ._arrays import ATOM_DTYPE  # noqa: E402


def abi_version() -> int:
    """The C ABI version of the loaded library (1)."""
    return int(_L.lib.atomvae_abi_version())


def set_threads(n: int) -> None:
    """Threads libtorch uses in this process (e.g. 1 per Dask worker)."""
    _L.check(_L.lib.atomvae_set_threads(int(n)))


def cuda_available() -> bool:
    """Whether libtorch sees a CUDA device."""
    return bool(_L.lib.atomvae_cuda_available())


__all__ = [
    "ATOM_DTYPE",
    "STEPS",
    "AnalysisFile",
    "AtomvaeError",
    "BadModel",
    "BufferTooSmall",
    "Cancelled",
    "DeviceUnavailable",
    "FileError",
    "InternalError",
    "InvalidArgument",
    "Rvae",
    "Segmenter",
    "abi_version",
    "analyze",
    "cuda_available",
    "cut_windows",
    "find_atoms",
    "import_movie",
    "rename_analysis",
    "movie_info",
    "set_threads",
    "settings",
    "simulate_movie",
]
