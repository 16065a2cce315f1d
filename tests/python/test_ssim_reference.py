"""The SSIM value recorded in src/analysis/ssim.rs (test `a_known_pair_matches_scikit_image`)
is scikit-image's, an independent implementation of Wang et al. (2004): recompute it here."""

import re
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

SOURCE = Path(__file__).resolve().parents[2] / "src" / "analysis" / "ssim.rs"


def known_pair():
    h, w = 24, 20
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.sin(0.3 * x) * np.cos(0.2 * y) + 0.1 * (((x * 7 + y * 3) % 5) / 5.0)
    b = 0.8 * a + 0.3 * np.exp(-((y - 12) ** 2 + (x - 9) ** 2) / 8.0) + 0.05 * np.cos(0.9 * x + 0.4 * y)
    return a.astype(np.float32), b.astype(np.float32)


def test_recorded_ssim_is_scikit_images():
    a, b = known_pair()
    value = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=2.0)
    recorded = re.search(r"\(value - ([0-9._]+)\)\.abs\(\)", SOURCE.read_text())
    assert recorded, "the recorded value is no longer in ssim.rs"
    assert abs(value - float(recorded.group(1).replace("_", ""))) < 1e-12
    same = structural_similarity(a, a, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=2.0)
    assert same == 1.0
