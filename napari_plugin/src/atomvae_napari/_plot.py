"""Per-frame latent histograms (paper, Fig. 7B–D) drawn with QPainter in the dock:
bars for the frame on the time slider, a line for the whole movie's mean frame."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF
from qtpy.QtWidgets import QSizePolicy, QWidget


class HistogramPlot(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.latent = ""
        self.counts: np.ndarray | None = None  # (frames, bins)
        self.edges: np.ndarray | None = None  # (bins + 1)
        self.frame = 0

    def set_data(self, latent: str, counts: np.ndarray, edges: np.ndarray) -> None:
        self.latent, self.counts, self.edges = latent, np.asarray(counts, np.float64), np.asarray(edges)
        self.frame = min(self.frame, len(self.counts) - 1)
        self.update()

    def clear(self) -> None:
        self.counts = self.edges = None
        self.update()

    def set_frame(self, frame: int) -> None:
        if self.counts is not None:
            frame = int(np.clip(frame, 0, len(self.counts) - 1))
        if frame != self.frame:
            self.frame = frame
            self.update()

    def current(self) -> np.ndarray | None:
        """The counts drawn as bars (the frame on the slider)."""
        return None if self.counts is None else self.counts[self.frame]

    def paintEvent(self, _event):
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(30, 33, 40))
        painter.setPen(QColor(220, 220, 220))
        if self.counts is None:
            painter.drawText(self.rect(), Qt.AlignCenter, "latent histograms appear after the rVAE")
            return
        frames, bins = self.counts.shape
        left, top, right, bottom = 8.0, 22.0, self.width() - 8.0, self.height() - 20.0
        painter.drawText(
            QRectF(left, 2, right - left, 18), Qt.AlignLeft, f"{self.latent} — frame {self.frame + 1}/{frames}"
        )
        painter.drawText(QRectF(left, 2, right - left, 18), Qt.AlignRight, "— movie mean")
        bar = self.counts[self.frame] / max(self.counts[self.frame].sum(), 1.0)
        mean = self.counts.sum(axis=0) / max(self.counts.sum(), 1.0)
        peak = max(bar.max(), mean.max(), 1e-12)
        width = (right - left) / bins
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(90, 160, 230))
        for i, value in enumerate(bar):
            h = (bottom - top) * value / peak
            painter.drawRect(QRectF(left + i * width, bottom - h, max(width - 1, 1), h))
        line = QPolygonF(
            [QPointF(left + (i + 0.5) * width, bottom - (bottom - top) * v / peak) for i, v in enumerate(mean)]
        )
        painter.setPen(QPen(QColor(255, 170, 60), 1.5))
        painter.drawPolyline(line)
        painter.setPen(QColor(200, 200, 200))
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        painter.drawText(QRectF(left, bottom + 2, right - left, 16), Qt.AlignLeft, f"{lo:.3g}")
        painter.drawText(QRectF(left, bottom + 2, right - left, 16), Qt.AlignRight, f"{hi:.3g}")
        painter.end()
