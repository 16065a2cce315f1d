//! Latents back on the atoms (the paper's Fig. 6 and 7): each atom's latent value
//! painted as a disc at its position on the frame's pixel grid; per-frame and
//! whole-movie histograms of each latent (Fig. 7A–D); and each atom's coordination
//! (neighbours within a bond length), which tells bulk lattice from edges.

use ndarray::Array2;

use super::AnalysisError;

/// A frame-sized image, NaN away from atoms, with `values[i]` painted in a disc of
/// `radius_px` around (`ys[i]`, `xs[i]`).
pub fn back_projection(
    shape: (usize, usize),
    ys: &[f32],
    xs: &[f32],
    values: &[f32],
    radius_px: f64,
) -> Result<Array2<f32>, AnalysisError> {
    if ys.len() != xs.len() || ys.len() != values.len() {
        return Err(AnalysisError::BadInput(format!(
            "{} y, {} x and {} values for the back-projection",
            ys.len(),
            xs.len(),
            values.len()
        )));
    }
    let (h, w) = shape;
    let mut image = Array2::from_elem(shape, f32::NAN);
    let r = radius_px.max(0.5);
    for ((&y, &x), &v) in ys.iter().zip(xs).zip(values) {
        let (y, x) = (f64::from(y), f64::from(x));
        let (y0, y1) = ((y - r).floor().max(0.0) as usize, ((y + r).ceil() as usize).min(h.saturating_sub(1)));
        let (x0, x1) = ((x - r).floor().max(0.0) as usize, ((x + r).ceil() as usize).min(w.saturating_sub(1)));
        for yy in y0..=y1 {
            for xx in x0..=x1 {
                if (yy as f64 - y).powi(2) + (xx as f64 - x).powi(2) <= r * r {
                    image[[yy, xx]] = v;
                }
            }
        }
    }
    Ok(image)
}

/// `bins` equal bins spanning the central `coverage` of `values` (e.g. 0.99: the
/// 0.5th to 99.5th percentile), so that a few outliers do not squash the rest.
pub fn histogram_edges(values: &[f32], bins: usize, coverage: f64) -> Result<Vec<f64>, AnalysisError> {
    let mut v: Vec<f64> = values.iter().filter(|x| x.is_finite()).map(|&x| f64::from(x)).collect();
    if v.is_empty() || bins == 0 {
        return Err(AnalysisError::BadInput("a histogram needs finite values and at least one bin".into()));
    }
    v.sort_by(f64::total_cmp);
    let tail = (1.0 - coverage.clamp(0.0, 1.0)) / 2.0;
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (mut lo, mut hi) = (at(tail), at(1.0 - tail));
    if hi <= lo {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    Ok((0..=bins).map(|i| lo + (hi - lo) * i as f64 / bins as f64).collect())
}

fn bin_of(v: f64, edges: &[f64]) -> Option<usize> {
    let bins = edges.len() - 1;
    if !v.is_finite() || v < edges[0] || v > edges[bins] {
        return None;
    }
    let i = ((v - edges[0]) / (edges[bins] - edges[0]) * bins as f64) as usize;
    Some(i.min(bins - 1))
}

/// Counts per frame (frames × bins; values outside the edges are not counted).
pub fn histograms_per_frame(values: &[f32], frame: &[u32], n_frames: usize, edges: &[f64]) -> Array2<u32> {
    let mut out = Array2::zeros((n_frames, edges.len() - 1));
    for (&v, &f) in values.iter().zip(frame) {
        if let (Some(b), true) = (bin_of(f64::from(v), edges), (f as usize) < n_frames) {
            out[[f as usize, b]] += 1;
        }
    }
    out
}

/// Neighbours of every atom within `cutoff_px` in the same frame.
pub fn coordination(ys: &[f32], xs: &[f32], frame: &[u32], cutoff_px: f64) -> Vec<u8> {
    super::order::neighbours(ys, xs, frame, cutoff_px).iter().map(|near| near.len().min(255) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discs_histograms_and_neighbours() {
        let img = back_projection((10, 12), &[2.0, 7.0], &[3.0, 9.0], &[0.5, -1.0], 1.5).unwrap();
        assert_eq!(img[[2, 3]], 0.5);
        assert_eq!(img[[3, 4]], 0.5, "within 1.5 px");
        assert_eq!(img[[7, 9]], -1.0);
        assert!(img[[0, 11]].is_nan(), "no atom there");
        let edges = histogram_edges(&[0.0, 1.0, 2.0, 3.0], 3, 1.0).unwrap();
        assert_eq!(edges, vec![0.0, 1.0, 2.0, 3.0]);
        let h = histograms_per_frame(&[0.0, 1.0, 2.0, 3.0, 9.0], &[0, 0, 1, 1, 1], 2, &edges);
        assert_eq!(h, ndarray::arr2(&[[1, 1, 0], [0, 0, 2]]), "the top edge is in the last bin; 9 is out");
        // A line of three atoms 1 px apart: ends have one neighbour, the middle two.
        let c = coordination(&[0.0, 0.0, 0.0, 5.0], &[0.0, 1.0, 2.0, 5.0], &[0, 0, 0, 1], 1.1);
        assert_eq!(c, vec![1, 2, 1, 0]);
    }
}
