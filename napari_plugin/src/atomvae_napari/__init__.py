"""napari plugin for atomvae: atoms, class probabilities and rVAE order parameters
(angle, z1, z2, GMM class) of atom-resolved STEM movies as calibrated layers.

Nothing heavy is imported here: atomvae (and torch) load when a widget runs, a file
is read or a sample is made."""

__version__ = "0.1.0"
