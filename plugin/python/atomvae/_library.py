"""Loading the native library and calling it: torch first (it brings libtorch's
shared libraries), then the cdylib through cffi in ABI mode. Every call releases
the GIL (cffi does so around foreign calls), statuses become exceptions, and
progress callbacks become C function pointers for the duration of one call.

The library is the one shipped in the wheel (``atomvae._native``), or, for
development, the file named by ``ATOMVAE_LIBRARY`` with the header named by
``ATOMVAE_HEADER`` (default: ``include/atomvae.h`` of the source tree).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import BY_STATUS, AtomvaeError, BufferTooSmall, Cancelled

TORCH_VERSION = "2.13.0"
ABI_VERSION = 1

Progress = Callable[[float, str], "bool | None"]


def _import_torch() -> str:
    """Imports torch so that libtorch is in the process before our library loads."""
    hint = (
        f"atomvae needs PyTorch {TORCH_VERSION} (for libtorch's shared libraries): pip install torch=={TORCH_VERSION}"
    )
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(f"{hint} ({exc})") from exc
    version = torch.__version__.split("+")[0]
    if version != TORCH_VERSION:
        raise ImportError(f"{hint}; this Python has torch {torch.__version__}")
    return torch.__version__


_DLL_DIRECTORIES = []


def _load():
    _import_torch()
    if os.name == "nt":  # pragma: no cover - Windows: DLLs are not found through PATH (Python >= 3.8)
        import torch

        _DLL_DIRECTORIES.append(os.add_dll_directory(str(Path(torch.__file__).parent / "lib")))
    path = os.environ.get("ATOMVAE_LIBRARY")
    if not path:
        from ._native import ffi, lib

        return ffi, lib
    import cffi

    from ._header import cdef_from_header

    header = os.environ.get("ATOMVAE_HEADER") or str(Path(__file__).resolve().parents[3] / "include" / "atomvae.h")
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(Path(header).read_text(encoding="utf-8")))
    return ffi, ffi.dlopen(path)


ffi, lib = _load()

if lib.atomvae_abi_version() != ABI_VERSION:  # pragma: no cover - a mismatched build
    raise ImportError(
        f"the atomvae library speaks ABI {lib.atomvae_abi_version()}, this package ABI {ABI_VERSION}: reinstall atomvae"
    )

DEVICES = {"auto": lib.ATOMVAE_DEVICE_AUTO, "cpu": lib.ATOMVAE_DEVICE_CPU, "cuda": lib.ATOMVAE_DEVICE_CUDA}


def device_code(device: str):
    try:
        return DEVICES[device.lower()]
    except (KeyError, AttributeError):
        from .errors import InvalidArgument

        raise InvalidArgument(f"device must be one of {sorted(DEVICES)}, not {device!r}") from None


def last_error() -> str:
    size = lib.atomvae_last_error(ffi.NULL, 0)
    buffer = ffi.new("uint8_t[]", size)
    lib.atomvae_last_error(buffer, size)
    return ffi.string(ffi.cast("char *", buffer)).decode("utf-8", "replace")


def check(status) -> None:
    """Raises the exception of a non-OK status with the library's message."""
    code = int(status)
    if code != 0:
        raise BY_STATUS.get(code, AtomvaeError)(last_error())


class ProgressBridge:
    """A Python progress function as the ABI's callback for one call.

    The function gets (fraction done, phase) and returns False to cancel; an
    exception inside it cancels the call and is raised again afterwards.
    """

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.error: BaseException | None = None
        self.callback = ffi.callback("bool(double, char const *, void *)", self._call) if progress else ffi.NULL

    def _call(self, fraction, phase, _user_data):
        try:
            text = ffi.string(phase).decode("utf-8", "replace") if phase != ffi.NULL else ""
            answer = self.progress(float(fraction), text)
            return answer is None or bool(answer)
        except BaseException as exc:  # noqa: BLE001 - re-raised in `finish`
            self.error = exc
            return False

    def finish(self, status) -> None:
        """Checks a call's status, preferring the progress function's own exception."""
        if self.error is not None and int(status) == Cancelled.status:
            raise self.error
        check(status)


def call_with_bytes(function, *args) -> bytes:
    """Calls a function of the (…, buffer, capacity, length) kind: a size query, then
    the call with a buffer of that size; returns the bytes written."""
    length = ffi.new("size_t *")
    status = function(*args, ffi.NULL, 0, length)
    if int(status) not in (0, BufferTooSmall.status):
        check(status)
    buffer = ffi.new("uint8_t[]", max(length[0], 1))
    check(function(*args, buffer, length[0], length))
    return ffi.buffer(buffer, length[0])[:]


def call_with_text(function, *args) -> str:
    """Like :func:`call_with_bytes` for a NUL-terminated UTF-8 text."""
    return call_with_bytes(function, *args).rstrip(b"\0").decode("utf-8")


def text(value: str | os.PathLike | None):
    """A Python string or path as a C string (kept alive by the caller's reference)."""
    if value is None:
        return ffi.NULL
    return ffi.new("char[]", os.fsencode(value))


class Handle:
    """An owned native handle released exactly once (on `close`, `with` or collection)."""

    _free = None

    def __init__(self, pointer):
        self._pointer = pointer
        self._lock = threading.Lock()

    @property
    def pointer(self):
        if self._pointer is None:
            from .errors import InvalidArgument

            raise InvalidArgument(f"this {type(self).__name__} was closed")
        return self._pointer

    def close(self) -> None:
        with self._lock:
            if self._pointer is not None:
                type(self)._free(self._pointer)
                self._pointer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
