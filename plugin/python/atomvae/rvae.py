"""The rotationally invariant VAE (paper, Fig. 3): trained on windows around atoms,
it encodes each window into an angle, a shift and content latents, and decodes
latents back into windows over a rotated pixel grid."""

from __future__ import annotations

import json
import os

import numpy as np

from . import _library as L
from ._arrays import as_float32, reading, writing
from .errors import InvalidArgument


def settings(preset: str = "recipe") -> dict:
    """Every step's settings for a preset, as a dict to change and pass back:
    ``"recipe"`` (the default: what works on graphene — 4 Å disc windows, no shift
    latents, a low content KL at first, trained until converged) or ``"paper"``
    (the paper's plain settings)."""
    return json.loads(L.call_with_text(L.lib.atomvae_settings_json, L.text(preset)))


def settings_json(preset: str | None, overrides: dict | None) -> bytes:
    merged = dict(overrides or {})
    if preset is not None:
        merged["preset"] = preset
    return json.dumps(merged).encode()


class Rvae(L.Handle):
    """A trained rVAE. Make one with :meth:`train` or :meth:`load`."""

    _free = L.lib.atomvae_rvae_free

    def __init__(self, pointer):
        super().__init__(pointer)
        described = json.loads(L.call_with_text(L.lib.atomvae_rvae_config_json, self.pointer))
        self.config: dict = described["config"]
        self.training: dict | None = described["training"]

    @classmethod
    def train(
        cls,
        windows,
        *,
        preset: str = "recipe",
        rvae: dict | None = None,
        training: dict | None = None,
        device: str = "auto",
        progress: L.Progress | None = None,
    ) -> Rvae:
        """Trains on windows (N, w, w). ``preset`` picks the starting settings,
        ``rvae`` / ``training`` override fields of them (e.g. ``training={"epochs":
        5, "seed": 1}``; see :func:`settings`). ``progress(fraction, phase)`` may
        return False to cancel (:class:`atomvae.Cancelled`; nothing is made)."""
        windows = as_float32(windows, "windows", (3,))
        n, h, w = windows.shape
        if h != w:
            raise InvalidArgument(f"windows must be square, got {h}×{w} px")
        overrides = {}
        if rvae:
            overrides["rvae"] = rvae
        if training:
            overrides["training"] = training
        text = settings_json(preset, overrides)
        out = L.ffi.new("AtomvaeRvae_t **")
        bridge = L.ProgressBridge(progress)
        status = L.lib.atomvae_rvae_train_json(
            reading(windows), n, w, text, L.device_code(device), bridge.callback, L.ffi.NULL, out
        )
        bridge.finish(status)
        return cls(out[0])

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> Rvae:
        """A model written by :meth:`save` (or an analysis file's ``/models/rvae``)."""
        out = L.ffi.new("AtomvaeRvae_t **")
        L.check(L.lib.atomvae_rvae_load(L.text(path), L.device_code(device), out))
        return cls(out[0])

    def save(self, path: str | os.PathLike) -> None:
        """Writes the model to an HDF5 model file (replaced atomically)."""
        L.check(L.lib.atomvae_rvae_save(self.pointer, L.text(path)))

    @property
    def window(self) -> int:
        """The window edge (px) the model takes."""
        return int(L.lib.atomvae_rvae_window(self.pointer))

    @property
    def latent_columns(self) -> list[str]:
        """Names of the latent columns: ``angle, dx, dy, z1, z2, …``."""
        k = int(L.lib.atomvae_rvae_latent_columns(self.pointer)) - 3
        return ["angle", "dx", "dy"] + [f"z{i + 1}" for i in range(k)]

    def encode(self, windows) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances (N, columns) of windows (N, w, w)."""
        windows = as_float32(windows, "windows", (2, 3))
        if windows.ndim == 2:
            windows = windows[None]
        n, h, w = windows.shape
        if h != w or w != self.window:
            raise InvalidArgument(f"windows are {h}×{w} px; this model takes {self.window}×{self.window}")
        cols = len(self.latent_columns)
        mean = np.empty((n, cols), np.float32)
        logvar = np.empty((n, cols), np.float32)
        L.check(
            L.lib.atomvae_rvae_encode(self.pointer, reading(windows), n, w, writing(mean), writing(logvar), mean.size)
        )
        return mean, logvar

    def decode(self, latents, pose: bool = False) -> np.ndarray:
        """Windows (N, w, w) from latents: (N, content) columns, or the full
        (N, columns) rows of :meth:`encode` whose angle and shift are applied only
        with ``pose=True``."""
        z = as_float32(latents, "latents", (1, 2))
        if z.ndim == 1:
            z = z[None]
        n, columns = z.shape
        out = np.empty((n, self.window, self.window), np.float32)
        L.check(L.lib.atomvae_rvae_decode(self.pointer, reading(z), n, columns, bool(pose), writing(out), out.size))
        return out

    def manifold(self, n: int = 8) -> np.ndarray:
        """Windows decoded on an n × n grid of (z1 column, z2 row) at the 5–95 %
        quantiles of the prior: (n, n, w, w)."""
        out = np.empty((n, n, self.window, self.window), np.float32)
        L.check(L.lib.atomvae_rvae_manifold(self.pointer, int(n), writing(out), out.size))
        return out
