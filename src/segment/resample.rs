//! Resampling frames between pixel sizes: separable linear interpolation whose tent
//! kernel widens with the reduction factor (antialiased, as area averaging), so
//! downsampling averages noise instead of aliasing it. Pixel centres map as
//! y_out = (y_in + ½)·s − ½, with s = out/in, the convention of the whole library.

use ndarray::{Array2, ArrayView2};

/// One output sample: the input indices and weights that make it.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

fn taps(n_in: usize, n_out: usize) -> Vec<Taps> {
    let scale = n_out as f64 / n_in as f64;
    let support = (1.0 / scale).max(1.0);
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) / scale - 0.5;
            let lo = (centre - support).ceil().max(0.0) as usize;
            let hi = ((centre + support).floor() as isize).min(n_in as isize - 1).max(lo as isize) as usize;
            let mut w: Vec<f32> =
                (lo..=hi).map(|i| (1.0 - ((i as f64 - centre) / support).abs()).max(0.0) as f32).collect();
            let sum: f32 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            } else {
                // The centre lies outside the input (edge): take the nearest pixel.
                w.iter_mut().for_each(|v| *v = 0.0);
                let nearest = centre.round().clamp(0.0, (n_in - 1) as f64) as usize;
                return Taps { start: nearest, weights: vec![1.0] };
            }
            Taps { start: lo, weights: w }
        })
        .collect()
}

/// Resizes `img` to (out_h, out_w).
pub fn resize(img: ArrayView2<f32>, out_h: usize, out_w: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    if (h, w) == (out_h, out_w) {
        return img.to_owned();
    }
    let tx = taps(w, out_w);
    let ty = taps(h, out_h);
    let mut rows = Array2::<f32>::zeros((h, out_w));
    for (r, row) in img.outer_iter().enumerate() {
        for (o, t) in tx.iter().enumerate() {
            rows[[r, o]] = t.weights.iter().enumerate().map(|(k, wt)| wt * row[t.start + k]).sum();
        }
    }
    let mut out = Array2::<f32>::zeros((out_h, out_w));
    for (o, t) in ty.iter().enumerate() {
        for (k, wt) in t.weights.iter().enumerate() {
            let src = rows.row(t.start + k);
            let mut dst = out.row_mut(o);
            dst.scaled_add(*wt, &src);
        }
    }
    out
}

/// The grid a frame of `shape` at `from` Å/px takes at `to` Å/px, and the exact
/// per-axis scale factors (out/in) that the rounding leaves.
pub fn target_grid(shape: (usize, usize), from: f64, to: f64) -> ((usize, usize), (f64, f64)) {
    let s = from / to;
    let oh = ((shape.0 as f64 * s).round() as usize).max(1);
    let ow = ((shape.1 as f64 * s).round() as usize).max(1);
    ((oh, ow), (oh as f64 / shape.0 as f64, ow as f64 / shape.1 as f64))
}

/// Maps a position on a resampled grid back to the original pixels.
pub fn to_original(y: f64, x: f64, scale: (f64, f64)) -> (f64, f64) {
    ((y + 0.5) / scale.0 - 0.5, (x + 0.5) / scale.1 - 0.5)
}

/// Maps a position in original pixels onto the resampled grid.
pub fn to_resampled(y: f64, x: f64, scale: (f64, f64)) -> (f64, f64) {
    ((y + 0.5) * scale.0 - 0.5, (x + 0.5) * scale.1 - 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_constant_images_and_moves_a_peak_consistently() {
        let flat = Array2::from_elem((37, 53), 2.5f32);
        let r = resize(flat.view(), 20, 29);
        assert!(r.iter().all(|v| (v - 2.5).abs() < 1e-5));
        // A Gaussian blob at (y, x) lands at to_resampled(y, x) after resizing.
        let (y0, x0) = (30.3, 41.7);
        let img = Array2::from_shape_fn((80, 96), |(r, c)| {
            let d2 = (r as f64 - y0).powi(2) + (c as f64 - x0).powi(2);
            (-d2 / (2.0 * 4.0f64.powi(2))).exp() as f32
        });
        for (oh, ow) in [(42, 50), (160, 192)] {
            let out = resize(img.view(), oh, ow);
            let scale = (oh as f64 / 80.0, ow as f64 / 96.0);
            let (mut sy, mut sx, mut s) = (0.0, 0.0, 0.0);
            for ((r, c), v) in out.indexed_iter() {
                let v = *v as f64;
                sy += r as f64 * v;
                sx += c as f64 * v;
                s += v;
            }
            let (ey, ex) = to_resampled(y0, x0, scale);
            assert!(
                (sy / s - ey).abs() < 0.05 && (sx / s - ex).abs() < 0.05,
                "{oh}×{ow}: {} {} vs {ey} {ex}",
                sy / s,
                sx / s
            );
            let (by, bx) = to_original(ey, ex, scale);
            assert!((by - y0).abs() < 1e-9 && (bx - x0).abs() < 1e-9);
        }
    }
}
