//! Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004): luminance,
//! contrast and structure compared under an 11×11 Gaussian window (σ = 1.5),
//! C₁ = (0.01 L)², C₂ = (0.03 L)², population (not sample) variances, edges
//! reflected and the mean taken over the pixels whose window fits (as scikit-image
//! computes it with `gaussian_weights=True, use_sample_covariance=False`). The
//! paper's Fig. S1 uses it to compare the building blocks each method finds; we add
//! the SSIM maximised over rotations, which tells "the same motif turned" apart from
//! "a different motif".

use ndarray::{Array2, ArrayView2};

use super::AnalysisError;

const SIGMA: f64 = 1.5;
/// scikit-image's window radius for σ = 1.5: ⌊3.5σ + ½⌋.
const RADIUS: usize = 5;

fn kernel() -> Vec<f64> {
    let w: Vec<f64> = (0..=2 * RADIUS).map(|i| (-0.5 * ((i as f64 - RADIUS as f64) / SIGMA).powi(2)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// Index into 0..n with half-sample symmetric reflection (… c b a | a b c …).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - 1 - j;
    }
    j as usize
}

/// Separable Gaussian filter with reflected edges.
fn blur(image: &Array2<f64>, k: &[f64]) -> Array2<f64> {
    let (h, w) = image.dim();
    let r = RADIUS as isize;
    let rows = Array2::from_shape_fn((h, w), |(y, x)| -> f64 {
        k.iter().enumerate().map(|(t, kv)| kv * image[[y, reflect(x as isize + t as isize - r, w)]]).sum()
    });
    Array2::from_shape_fn((h, w), |(y, x)| -> f64 {
        k.iter().enumerate().map(|(t, kv)| kv * rows[[reflect(y as isize + t as isize - r, h), x]]).sum()
    })
}

/// Mean SSIM of two images of the same shape; `data_range` is L (the span of
/// possible values, e.g. 1 for probabilities).
pub fn ssim(a: ArrayView2<f32>, b: ArrayView2<f32>, data_range: f64) -> Result<f64, AnalysisError> {
    if a.dim() != b.dim() {
        return Err(AnalysisError::BadInput(format!("SSIM of images of shapes {:?} and {:?}", a.dim(), b.dim())));
    }
    let (h, w) = a.dim();
    if h < 2 * RADIUS + 1 || w < 2 * RADIUS + 1 {
        return Err(AnalysisError::BadInput(format!("SSIM needs images of at least 11×11 px, got {h}×{w}")));
    }
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(AnalysisError::BadInput(format!("SSIM data range must be positive, got {data_range}")));
    }
    let a = a.mapv(f64::from);
    let b = b.mapv(f64::from);
    if a.iter().chain(b.iter()).any(|v| !v.is_finite()) {
        return Err(AnalysisError::BadInput("SSIM of images with NaN or infinite pixels".into()));
    }
    let k = kernel();
    let (ma, mb) = (blur(&a, &k), blur(&b, &k));
    let (aa, bb, ab) = (blur(&(&a * &a), &k), blur(&(&b * &b), &k), blur(&(&a * &b), &k));
    let (c1, c2) = ((0.01 * data_range).powi(2), (0.03 * data_range).powi(2));
    let mut sum = 0.0;
    let mut count = 0usize;
    for y in RADIUS..h - RADIUS {
        for x in RADIUS..w - RADIUS {
            let (mx, my) = (ma[[y, x]], mb[[y, x]]);
            let vx = aa[[y, x]] - mx * mx;
            let vy = bb[[y, x]] - my * my;
            let cxy = ab[[y, x]] - mx * my;
            sum += ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    Ok(sum / count as f64)
}

/// `image` turned by `angle` (rad, counter-clockwise on screen) about its centre,
/// bilinear, zero outside.
pub fn rotate(image: ArrayView2<f32>, angle: f64) -> Array2<f32> {
    let (h, w) = image.dim();
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let (s, c) = angle.sin_cos();
    Array2::from_shape_fn((h, w), |(y, x)| {
        // Inverse map: where in the source does this output pixel come from.
        let (dy, dx) = (y as f64 - cy, x as f64 - cx);
        let sy = cy + c * dy - s * dx;
        let sx = cx + s * dy + c * dx;
        let (y0, x0) = (sy.floor(), sx.floor());
        let (fy, fx) = (sy - y0, sx - x0);
        let at = |yy: f64, xx: f64| -> f64 {
            if yy < 0.0 || xx < 0.0 || yy > h as f64 - 1.0 || xx > w as f64 - 1.0 {
                0.0
            } else {
                f64::from(image[[yy as usize, xx as usize]])
            }
        };
        ((1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1.0))
            + fy * ((1.0 - fx) * at(y0 + 1.0, x0) + fx * at(y0 + 1.0, x0 + 1.0))) as f32
    })
}

/// Zero outside the disc inscribed in the image, so that turning it loses nothing.
pub fn disc_masked(image: ArrayView2<f32>) -> Array2<f32> {
    let (h, w) = image.dim();
    let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
    let r2 = (h.min(w) as f64 / 2.0).powi(2);
    Array2::from_shape_fn((h, w), |(y, x)| {
        if (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2) <= r2 {
            image[[y, x]]
        } else {
            0.0
        }
    })
}

/// SSIM of the discs of `a` and `b`: as they are, and the best over turns of `b`
/// in `steps` equal steps of a full circle.
pub fn ssim_plain_and_rotated(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    data_range: f64,
    steps: usize,
) -> Result<(f64, f64), AnalysisError> {
    let (da, db) = (disc_masked(a), disc_masked(b));
    let plain = ssim(da.view(), db.view(), data_range)?;
    let mut best = plain;
    for i in 1..steps.max(1) {
        let turned = disc_masked(rotate(db.view(), std::f64::consts::TAU * i as f64 / steps as f64).view());
        best = best.max(ssim(da.view(), turned.view(), data_range)?);
    }
    Ok((plain, best))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_score_one_and_a_turn_is_recognised() {
        let img = Array2::from_shape_fn((24, 24), |(y, x)| {
            let (dy, dx) = (y as f64 - 8.0, x as f64 - 13.0);
            (-(dy * dy + dx * dx) / 6.0).exp() as f32
        });
        assert!((ssim(img.view(), img.view(), 1.0).unwrap() - 1.0).abs() < 1e-12);
        let turned = rotate(img.view(), std::f64::consts::FRAC_PI_2);
        let (plain, rotated) = ssim_plain_and_rotated(img.view(), turned.view(), 1.0, 36).unwrap();
        assert!(plain < 0.7, "a blob moved a quarter turn is not the same image: {plain}");
        assert!(rotated > 0.95, "but turning it back makes it so: {rotated}");
    }

    #[test]
    fn a_known_pair_matches_scikit_image() {
        // scikit-image's structural_similarity(a, b, gaussian_weights=True,
        // sigma=1.5, use_sample_covariance=False, data_range=2.0) on these f32
        // images; tests/python/test_ssim_reference.py recomputes it at every run.
        let a = Array2::from_shape_fn((24, 20), |(y, x)| {
            let (y, x) = (y as f64, x as f64);
            ((0.3 * x).sin() * (0.2 * y).cos() + 0.1 * (((x * 7.0 + y * 3.0) % 5.0) / 5.0)) as f32
        });
        let b = Array2::from_shape_fn((24, 20), |(y, x)| {
            let (yf, xf) = (y as f64, x as f64);
            let av = (0.3 * xf).sin() * (0.2 * yf).cos() + 0.1 * (((xf * 7.0 + yf * 3.0) % 5.0) / 5.0);
            (0.8 * av
                + 0.3 * (-((yf - 12.0).powi(2) + (xf - 9.0).powi(2)) / 8.0).exp()
                + 0.05 * (0.9 * xf + 0.4 * yf).cos()) as f32
        });
        let value = ssim(a.view(), b.view(), 2.0).unwrap();
        assert!((value - 0.732_216_825_336_217_9).abs() < 1e-5, "{value}");
        assert!(ssim(a.view(), Array2::zeros((24, 21)).view(), 1.0).is_err());
        assert!(ssim(a.slice(ndarray::s![..10, ..]), a.slice(ndarray::s![..10, ..]), 1.0).is_err(), "too small");
    }

    #[test]
    fn reflection_indexing() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }
}
