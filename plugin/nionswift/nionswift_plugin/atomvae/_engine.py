"""The bridge to the atomvae package: imported on first use (atomvae brings torch,
which Nion Swift should not pay for at start-up), one shared segmentation model,
and progress callbacks that report to Nion Swift and stop the native call when
the user stops the computation."""

from __future__ import annotations

import threading
import types

_lock = threading.Lock()
_segmenter = None


def atomvae() -> types.ModuleType:
    """The atomvae package, imported now if it was not yet."""
    import atomvae as package

    return package


def segmenter():
    """The embedded graphene segmentation model, loaded once per process (its
    handle serialises concurrent calls)."""
    global _segmenter
    with _lock:
        if _segmenter is None:
            _segmenter = atomvae().Segmenter()
        return _segmenter


class Progress:
    """Reports a share ``[start, start + span)`` of a computation's progress to Nion
    Swift's execution context and checks for a stop on every report.

    ``context`` is a ``ComputationExecutorContext`` (nionswift ≥ 16.17) or None.
    Its ``sync_execution()`` raises ``ComputationCanceledException`` once the
    computation is stopped or deleted; raised inside atomvae's progress callback,
    that cancels the native call, which returns, and atomvae raises the same
    exception again so that Nion Swift records the run as cancelled (nothing is
    committed)."""

    def __init__(self, context, start: float = 0.0, span: float = 1.0):
        self.context = context
        self.start = start
        self.span = span

    def part(self, start: float, span: float) -> Progress:
        return Progress(self.context, self.start + self.span * start, self.span * span)

    def check(self) -> None:
        """Raises if the computation was stopped (a no-op without a context)."""
        sync = getattr(self.context, "sync_execution", None)
        if sync is not None:
            sync()

    def __call__(self, fraction: float, phase: str = "") -> bool:
        if self.context is not None:
            try:
                self.context.progress = min(1.0, self.start + self.span * max(0.0, float(fraction)))
            except AttributeError:  # pragma: no cover - a context without progress
                pass
        self.check()
        return True
