"""Exceptions raised by atomvae: one class per status of the C ABI, each carrying
the library's own message."""

from __future__ import annotations


class AtomvaeError(Exception):
    """A call into the atomvae library failed; ``status`` is the ABI's code."""

    status = -1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(AtomvaeError, ValueError):
    """A bad shape, value, setting or path (ATOMVAE_STATUS_INVALID_ARGUMENT)."""

    status = 1


class BadModel(AtomvaeError):
    """A model file or buffer that is not a usable model (ATOMVAE_STATUS_BAD_MODEL)."""

    status = 2


class FileError(AtomvaeError, OSError):
    """Reading or writing a file failed (ATOMVAE_STATUS_IO)."""

    status = 3


class Cancelled(AtomvaeError):
    """The progress callback asked to stop; nothing was produced (ATOMVAE_STATUS_CANCELLED)."""

    status = 4


class BufferTooSmall(AtomvaeError):
    """An output buffer was too small (a bug in this package if it ever escapes)."""

    status = 5


class DeviceUnavailable(AtomvaeError):
    """The requested device is not available, e.g. CUDA without a GPU."""

    status = 6


class InternalError(AtomvaeError):
    """A bug inside atomvae (a caught panic); please report the message."""

    status = 7


BY_STATUS = {
    cls.status: cls
    for cls in (InvalidArgument, BadModel, FileError, Cancelled, BufferTooSmall, DeviceUnavailable, InternalError)
}
