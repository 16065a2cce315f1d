//! The order parameters scored against the simulator's ground truth (beyond the
//! paper; `crate::analysis::order`): drawn only for simulated movies.

use std::path::Path;

use plotters::prelude::*;

use super::draw::{self, d};
use super::{ReportError, FONT};
use crate::analysis::order::OrderScores;

/// Densities of `values` over `bins` equal bins of [lo, hi], as (bin centre, density).
fn density(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64)> {
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|v| v.is_finite() && (lo..=hi).contains(*v)) {
        counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
    }
    let total = values.len().max(1) as f64 * width;
    counts.iter().enumerate().map(|(i, &c)| (lo + (i as f64 + 0.5) * width, c as f64 / total)).collect()
}

fn score(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

pub fn order_figure(path: &Path, scores: &OrderScores) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let root = root
        .titled(
            &format!(
                "Order parameters against the ground truth ({} windows: {} bulk, {} disordered; \
                 distance from the bulk mode: AUC {}, r {})",
                scores.windows_matched,
                scores.bulk,
                scores.disordered,
                score(scores.distance_auc.auc),
                score(scores.distance_dynamics_r)
            ),
            (FONT, 24),
        )
        .map_err(d)?;
    let panels = root.split_evenly((1, 3));
    let site = |s: u8| -> Vec<f64> { scores.detail.folded_angle.iter().filter(|a| a.1 == s).map(|a| a.0).collect() };
    draw::line_panel(
        &panels[0],
        &format!("angle → sublattice: accuracy {}", score(scores.sublattice_accuracy)),
        "3γ from its cluster's centre (°)",
        "density",
        &[
            ("true site A", density(&site(0), -180.0, 180.0, 36), RGBColor(60, 90, 170)),
            ("true site B", density(&site(1), -180.0, 180.0, 36), RGBColor(230, 140, 40)),
        ],
        true,
    )?;
    let z1 = scores.detail.z1_bulk.iter().chain(&scores.detail.z1_disordered).map(|&v| v as f32);
    let (lo, hi) = draw::percentile_range(z1, 0.005);
    draw::line_panel(
        &panels[1],
        &format!(
            "z1 → disorder: ROC AUC {} (sign-free {})",
            score(scores.z1_auc.auc),
            score(scores.z1_auc.auc_sign_free)
        ),
        "z1",
        "density",
        &[
            ("bulk", density(&scores.detail.z1_bulk, lo, hi, 40), RGBColor(60, 90, 170)),
            ("disordered", density(&scores.detail.z1_disordered, lo, hi, 40), RGBColor(200, 40, 40)),
        ],
        true,
    )?;
    let track: Vec<(f64, f64)> = scores.per_frame.iter().map(|f| (f.disordered_fraction, f.mean_z1)).collect();
    draw::line_panel(
        &panels[2],
        &format!("dynamics: Pearson r {} over {} frames", score(scores.dynamics_r), scores.per_frame.len()),
        "true fraction of disordered atoms",
        "mean z1 of the frame",
        &[("frames in order", track, RGBColor(60, 90, 170))],
        true,
    )?;
    root.present().map_err(d)
}
