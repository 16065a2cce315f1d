# How the SSIM reference value in src/analysis/ssim.rs was computed (run once by hand;
# kept for provenance, not collected by pytest).
import numpy as np
from skimage.metrics import structural_similarity
h, w = 24, 20
y, x = np.mgrid[0:h, 0:w].astype(np.float64)
a = np.sin(0.3 * x) * np.cos(0.2 * y) + 0.1 * (((x * 7 + y * 3) % 5) / 5.0)
b = 0.8 * a + 0.3 * np.exp(-((y - 12) ** 2 + (x - 9) ** 2) / 8.0) + 0.05 * np.cos(0.9 * x + 0.4 * y)
a = a.astype(np.float32); b = b.astype(np.float32)
L = 2.0
print(repr(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)))
print(repr(structural_similarity(a, a, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)))
