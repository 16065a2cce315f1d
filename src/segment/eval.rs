//! Scoring found atoms against the simulator's ground truth: one-to-one matching
//! within a radius (closest pairs first), precision, recall, position error and
//! the Si class scores — the accuracy figures of the tests and benchmarks.

use serde::Serialize;

use super::FoundAtom;
use crate::sim::{TruthAtom, CLASS_SILICON};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AtomScores {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    /// Mean distance of matched pairs (Å).
    pub mean_error: f64,
    pub si_precision: f64,
    pub si_recall: f64,
    /// Si atoms among the true atoms scored.
    pub si_true: usize,
    /// Atoms found as Si.
    pub si_found: usize,
    /// Found Si matched to a true Si.
    pub si_hits: usize,
}

impl AtomScores {
    /// The scores from the counts (`error_sum`: summed distance of matched pairs, Å).
    fn from_counts(tp: usize, found: usize, truth: usize, error_sum: f64, si: (usize, usize, usize)) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let (si_hits, si_found, si_true) = si;
        AtomScores {
            true_positives: tp,
            false_positives: found - tp,
            false_negatives: truth - tp,
            precision: ratio(tp, found),
            recall: ratio(tp, truth),
            mean_error: if tp == 0 { f64::NAN } else { error_sum / tp as f64 },
            si_precision: ratio(si_hits, si_found),
            si_recall: ratio(si_hits, si_true),
            si_true,
            si_found,
            si_hits,
        }
    }

    /// The scores of several frames taken together (pooled counts, not a mean of ratios).
    pub fn pooled(parts: &[AtomScores]) -> Self {
        let sum = |f: fn(&AtomScores) -> usize| parts.iter().map(f).sum::<usize>();
        let tp = sum(|s| s.true_positives);
        let error_sum =
            parts.iter().filter(|s| s.true_positives > 0).map(|s| s.mean_error * s.true_positives as f64).sum();
        Self::from_counts(
            tp,
            tp + sum(|s| s.false_positives),
            tp + sum(|s| s.false_negatives),
            error_sum,
            (sum(|s| s.si_hits), sum(|s| s.si_found), sum(|s| s.si_true)),
        )
    }

    /// F1 of atom finding (species aside).
    pub fn f1(&self) -> f64 {
        let sum = self.precision + self.recall;
        if sum == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / sum
        }
    }
}

/// Scores `found` against `truth` (both in pixels of a (height, width) frame at
/// `pixel_size` Å/px), ignoring atoms within `border` px of the edge on either side.
pub fn score_atoms(
    found: &[FoundAtom],
    truth: &[TruthAtom],
    shape: (usize, usize),
    pixel_size: f64,
    match_radius: f64,
    border: f64,
) -> AtomScores {
    let inside = |y: f64, x: f64| {
        y >= border && x >= border && y <= shape.0 as f64 - 1.0 - border && x <= shape.1 as f64 - 1.0 - border
    };
    let found: Vec<&FoundAtom> = found.iter().filter(|a| inside(a.y, a.x)).collect();
    let truth: Vec<&TruthAtom> = truth.iter().filter(|a| inside(a.y as f64, a.x as f64)).collect();
    let radius_px = match_radius / pixel_size;
    let mut pairs = Vec::new();
    // Bucket the truth by row band for a near-linear candidate search.
    let band = radius_px.max(1.0);
    let mut by_band: std::collections::HashMap<i64, Vec<usize>> = std::collections::HashMap::new();
    for (j, t) in truth.iter().enumerate() {
        by_band.entry((t.y as f64 / band).floor() as i64).or_default().push(j);
    }
    for (i, f) in found.iter().enumerate() {
        let b = (f.y / band).floor() as i64;
        for bb in b - 1..=b + 1 {
            for &j in by_band.get(&bb).map(|v| v.as_slice()).unwrap_or(&[]) {
                let d = (f.y - truth[j].y as f64).hypot(f.x - truth[j].x as f64);
                if d <= radius_px {
                    pairs.push((d, i, j));
                }
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut used_f, mut used_t) = (vec![false; found.len()], vec![false; truth.len()]);
    let mut matched = Vec::new();
    for (d, i, j) in pairs {
        if !used_f[i] && !used_t[j] {
            used_f[i] = true;
            used_t[j] = true;
            matched.push((d, i, j));
        }
    }
    let si_found = found.iter().filter(|a| a.class == CLASS_SILICON).count();
    let si_true = truth.iter().filter(|a| a.class == CLASS_SILICON).count();
    let si_hits =
        matched.iter().filter(|&&(_, i, j)| found[i].class == CLASS_SILICON && truth[j].class == CLASS_SILICON).count();
    let error_sum = matched.iter().map(|m| m.0).sum::<f64>() * pixel_size;
    AtomScores::from_counts(matched.len(), found.len(), truth.len(), error_sum, (si_hits, si_found, si_true))
}
