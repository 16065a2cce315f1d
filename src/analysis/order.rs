//! Order parameters scored against the simulator's ground truth (beyond the
//! paper, which shows the maps of Figs. 6–7 but cannot measure them).
//!
//! - angle → sublattice: the two honeycomb sites are each other's image under a
//!   60° (equivalently 180°) turn, so the angle latent γ of an rVAE that learned the
//!   lattice tells them apart (Fig. 6's γ maps); 3γ folds the three equivalent turns
//!   of each site onto one point, and a two-cluster split of 3γ per frame and grain
//!   is scored against the true sublattice;
//! - z1 → disorder: ROC AUC of a content latent for disordered atoms (fewer than
//!   three bonds, or bond angles off 120° by more than `ANGLE_TOLERANCE_DEG`:
//!   edges, vacancy neighbours, 5-7 rings, grain boundaries) against the bulk;
//! - dynamics: Pearson r of the per-frame mean z1 against the true per-frame fraction
//!   of disordered atoms (Fig. 7's histograms over time).
//!
//! Signs of content latents are arbitrary (the prior is symmetric), so AUC and r are
//! also given sign-free (`max(AUC, 1 − AUC)`, `|r|`); the goals are stated on those.
//!
//! Beside z1, the same two scores for the distance of each window's content latents
//! from the bulk mode (their median over all windows, most atoms being bulk; no
//! truth used): a training run may send different defects to opposite ends of z1,
//! or disorder to z2, while the crystal stays one tight point of the content space,
//! so "how far from the crystal" is a disorder measure that does not depend on how
//! the run arranged its latents.

use serde::Serialize;

use super::AnalysisError;

/// Bonds are neighbours within this distance (Å), as in `/analysis/coordination`.
pub const BOND_CUTOFF_ANGSTROM: f64 = 1.8;
/// A bonded atom whose largest gap between bond directions is off 120° by more than
/// this is disordered (5-7 rings, grain boundaries), even with three bonds.
pub const ANGLE_TOLERANCE_DEG: f64 = 15.0;
/// A window's atom is the truth atom of its frame nearest to it, if within this (Å).
pub const MATCH_RADIUS_ANGSTROM: f64 = 0.5;
/// (frame, grain) groups with fewer bulk atoms than this are not split (too few to
/// tell two clusters apart).
const MIN_GROUP: usize = 10;

/// Ground-truth atoms of a simulated movie (`/truth/atoms`), positions in pixels.
#[derive(Debug, Clone, Default)]
pub struct TruthAtoms {
    pub frame: Vec<u32>,
    pub y: Vec<f32>,
    pub x: Vec<f32>,
    pub grain: Vec<u8>,
    pub sublattice: Vec<u8>,
}

/// Windows (their atoms' frame and position) and their latent means.
pub struct EncodedWindows<'a> {
    pub frame: &'a [u32],
    pub y: &'a [f32],
    pub x: &'a [f32],
    /// (N, columns) latent means.
    pub means: ndarray::ArrayView2<'a, f32>,
    /// Column names: `angle`, optionally `dx`, `dy`, then `z1`, `z2`, …
    pub names: &'a [String],
}

/// How well one content latent separates disordered atoms from the bulk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatentAuc {
    pub latent: String,
    /// P(latent of a disordered atom > latent of a bulk atom).
    pub auc: f64,
    /// `max(auc, 1 − auc)`: the latent's sign is arbitrary.
    pub auc_sign_free: f64,
}

/// One frame's mean z1 beside its true fraction of disordered atoms.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrameOrder {
    pub frame: u32,
    pub mean_z1: f64,
    pub disordered_fraction: f64,
    pub windows: usize,
}

/// The scores of one set of latents against the truth.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OrderScores {
    /// Windows whose atom matched a truth atom / did not (false atoms).
    pub windows_matched: usize,
    pub windows_unmatched: usize,
    pub bulk: usize,
    pub disordered: usize,
    /// Accuracy of the two-cluster split of 3γ against the true sublattice, bulk
    /// atoms only (goal ≥ 0.98); NaN when no group had enough bulk atoms.
    pub sublattice_accuracy: f64,
    /// z1 against disorder, then every content latent.
    pub z1_auc: LatentAuc,
    pub content_auc: Vec<LatentAuc>,
    /// Pearson r of per-frame mean z1 against the true disordered fraction, and |r|
    /// (goal ≥ 0.9 over a movie whose holes grow); NaN with fewer than 3 frames.
    pub dynamics_r: f64,
    pub dynamics_r_sign_free: f64,
    /// The distance of the content latents from their median (the bulk mode)
    /// against disorder, and its per-frame mean against the disordered fraction.
    pub distance_auc: LatentAuc,
    pub distance_dynamics_r: f64,
    pub per_frame: Vec<FrameOrder>,
    /// What the report's figure draws (not serialised: one value per window).
    #[serde(skip)]
    pub detail: OrderDetail,
}

/// Per-window values behind the scores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderDetail {
    /// Bulk atoms: 3γ relative to its group's cluster-0 centre (degrees) and the
    /// true sublattice.
    pub folded_angle: Vec<(f64, u8)>,
    pub z1_bulk: Vec<f64>,
    pub z1_disordered: Vec<f64>,
}

/// Neighbours of every atom within `cutoff` (same units as the positions) in the
/// same frame; a cell grid keeps it linear in the number of atoms.
pub fn neighbours(ys: &[f32], xs: &[f32], frame: &[u32], cutoff: f64) -> Vec<Vec<usize>> {
    use std::collections::HashMap;
    let cell = cutoff.max(1e-6);
    let key = |i: usize| (frame[i], (f64::from(ys[i]) / cell).floor() as i64, (f64::from(xs[i]) / cell).floor() as i64);
    let mut grid: HashMap<(u32, i64, i64), Vec<usize>> = HashMap::new();
    for i in 0..ys.len() {
        grid.entry(key(i)).or_default().push(i);
    }
    (0..ys.len())
        .map(|i| {
            let (f, cy, cx) = key(i);
            let mut near = Vec::new();
            for dy in -1..=1 {
                for dx in -1..=1 {
                    for &j in grid.get(&(f, cy + dy, cx + dx)).map(Vec::as_slice).unwrap_or(&[]) {
                        let d2 = f64::from(ys[i] - ys[j]).powi(2) + f64::from(xs[i] - xs[j]).powi(2);
                        if j != i && d2 <= cutoff * cutoff {
                            near.push(j);
                        }
                    }
                }
            }
            near
        })
        .collect()
}

/// Which truth atoms are disordered: fewer than three bonds, or three whose
/// directions leave a gap off 120° by more than `ANGLE_TOLERANCE_DEG`.
pub fn disordered_atoms(truth: &TruthAtoms, pixel_size: f64) -> Vec<bool> {
    let bonds = neighbours(&truth.y, &truth.x, &truth.frame, BOND_CUTOFF_ANGSTROM / pixel_size);
    bonds
        .iter()
        .enumerate()
        .map(|(i, near)| {
            if near.len() != 3 {
                return true;
            }
            let mut angles: Vec<f64> = near
                .iter()
                .map(|&j| f64::from(truth.y[j] - truth.y[i]).atan2(f64::from(truth.x[j] - truth.x[i])))
                .collect();
            angles.sort_by(f64::total_cmp);
            let gaps = [angles[1] - angles[0], angles[2] - angles[1], std::f64::consts::TAU - (angles[2] - angles[0])];
            gaps.iter().any(|g| (g.to_degrees() - 120.0).abs() > ANGLE_TOLERANCE_DEG)
        })
        .collect()
}

/// For each window, the truth atom of the same frame nearest to it within
/// `radius_px`, if any.
pub fn match_windows(frame: &[u32], y: &[f32], x: &[f32], truth: &TruthAtoms, radius_px: f64) -> Vec<Option<usize>> {
    use std::collections::HashMap;
    let cell = radius_px.max(1e-6);
    let key = |f: u32, y: f32, x: f32| (f, (f64::from(y) / cell).floor() as i64, (f64::from(x) / cell).floor() as i64);
    let mut grid: HashMap<(u32, i64, i64), Vec<usize>> = HashMap::new();
    for j in 0..truth.y.len() {
        grid.entry(key(truth.frame[j], truth.y[j], truth.x[j])).or_default().push(j);
    }
    (0..y.len())
        .map(|i| {
            let (f, cy, cx) = key(frame[i], y[i], x[i]);
            let mut best: Option<(usize, f64)> = None;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    for &j in grid.get(&(f, cy + dy, cx + dx)).map(Vec::as_slice).unwrap_or(&[]) {
                        let d = f64::from(y[i] - truth.y[j]).hypot(f64::from(x[i] - truth.x[j]));
                        if d <= radius_px && best.is_none_or(|(_, b)| d < b) {
                            best = Some((j, d));
                        }
                    }
                }
            }
            best.map(|(j, _)| j)
        })
        .collect()
}

/// Splits angles into two clusters on the circle of 3γ and returns each angle's
/// cluster and the direction (rad, on the circle of 3γ) of cluster 0's centre.
/// The circle is cut at its widest empty arc and the line left is split where the
/// two sides' summed squared spread is smallest (exact 1-D 2-means), so the split
/// holds whether the two sites lie opposite (γ apart by 60° or 180°) or close.
pub fn split_on_tripled_angle(angles: &[f64]) -> (Vec<u8>, f64) {
    use std::f64::consts::TAU;
    let n = angles.len();
    if n < 2 {
        return (vec![0; n], angles.first().map_or(0.0, |a| (3.0 * a).rem_euclid(TAU)));
    }
    let folded: Vec<f64> = angles.iter().map(|a| (3.0 * a).rem_euclid(TAU)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| folded[a].total_cmp(&folded[b]));
    // The widest gap between neighbours on the circle (the last one wraps round).
    let gap = |k: usize| -> f64 {
        let next = if k + 1 < n { folded[order[k + 1]] } else { folded[order[0]] + TAU };
        next - folded[order[k]]
    };
    let widest = (0..n).max_by(|&a, &b| gap(a).total_cmp(&gap(b))).unwrap_or(n - 1);
    // Unwrapped values, starting just after the widest gap, ascending.
    let line: Vec<(usize, f64)> = (1..=n)
        .map(|step| {
            let k = (widest + step) % n;
            let value = if widest + step >= n { folded[order[k]] + TAU } else { folded[order[k]] };
            (order[k], value)
        })
        .collect();
    let mut prefix = vec![(0.0, 0.0); n + 1];
    for (k, &(_, v)) in line.iter().enumerate() {
        prefix[k + 1] = (prefix[k].0 + v, prefix[k].1 + v * v);
    }
    let spread = |from: usize, to: usize| -> f64 {
        let (s, s2) = (prefix[to].0 - prefix[from].0, prefix[to].1 - prefix[from].1);
        s2 - s * s / (to - from) as f64
    };
    let split =
        (1..n).min_by(|&a, &b| (spread(0, a) + spread(a, n)).total_cmp(&(spread(0, b) + spread(b, n)))).unwrap_or(1);
    let mut labels = vec![0u8; n];
    for &(i, _) in &line[split..] {
        labels[i] = 1;
    }
    (labels, (prefix[split].0 / split as f64).rem_euclid(TAU))
}

/// `angle` wrapped into (−180°, 180°].
fn wrap_degrees(angle: f64) -> f64 {
    let d = angle.to_degrees().rem_euclid(360.0);
    if d > 180.0 {
        d - 360.0
    } else {
        d
    }
}

/// Area under the ROC curve of `scores` for `positive` against the rest
/// (Mann–Whitney, ties counted half); NaN when either side is empty.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let rank = mid_ranks(scores);
    let n_pos = positive.iter().filter(|&&p| p).count() as f64;
    let n_neg = scores.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = rank.iter().zip(positive).filter(|(_, &p)| p).map(|(r, _)| r).sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Mid-ranks (1-based, ties sharing their mean rank) of `values`.
fn mid_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut rank = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            rank[k] = mid;
        }
        i = j + 1;
    }
    rank
}

/// Spearman's rank correlation (Pearson's on mid-ranks); NaN as [`pearson`].
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    pearson(&mid_ranks(&a[..n]), &mid_ranks(&b[..n]))
}

/// Pearson correlation; NaN with fewer than 3 pairs or no spread.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 3 {
        return f64::NAN;
    }
    let (ma, mb) = (a[..n].iter().sum::<f64>() / n as f64, b[..n].iter().sum::<f64>() / n as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    sab / (saa * sbb).sqrt()
}

fn latent_auc(name: &str, values: &[f64], positive: &[bool]) -> LatentAuc {
    let auc = roc_auc(values, positive);
    LatentAuc { latent: name.to_string(), auc, auc_sign_free: auc.max(1.0 - auc) }
}

/// The windows far from the bulk mode: those whose [`distance_from_median`] exceeds
/// half its 99th percentile. Where disorder stands apart from the crystal (on the
/// demo's movies the bulk lies within 0.1 of the mode, every kind of defect 1–2.5
/// from it) that is the whole defect group, however large a share of the windows it
/// is; a fixed top share would take only the farthest kinds of defect.
pub fn far_from_bulk(distance: &[f64]) -> Vec<bool> {
    let s = sorted(distance);
    let p99 = s.get((s.len().saturating_sub(1) as f64 * 0.99) as usize).copied().unwrap_or(0.0);
    distance.iter().map(|&d| p99 > 0.0 && d > 0.5 * p99).collect()
}

/// How one-sidedly `z` sets the windows far from the bulk ([`far_from_bulk`]) apart
/// from the rest: the ROC AUC of `z` for far vs near windows — 1 when every far
/// window lies above every near one (z as the paper reads its z1, growing with
/// disorder), ~0.5 when they lie on both sides of the bulk (two kinds of defect at
/// opposite ends, or defects around it on a ring in (z1, z2)), 0 when all below.
/// None with fewer than 20 windows, or without both far and near ones.
pub fn far_windows_one_sided(z: &[f64], distance: &[f64]) -> Option<f64> {
    let n = z.len().min(distance.len());
    if n < 20 {
        return None;
    }
    let auc = roc_auc(&z[..n], &far_from_bulk(&distance[..n]));
    auc.is_finite().then_some(auc)
}

/// Euclidean distance of every row of `columns` (one Vec per latent, same length)
/// from their component-wise median (the prior's units: the KL keeps every latent
/// on the same scale).
pub fn distance_from_median(columns: &[Vec<f64>]) -> Vec<f64> {
    let n = columns.first().map_or(0, Vec::len);
    let medians: Vec<f64> = columns.iter().map(|c| median(c)).collect();
    (0..n).map(|i| columns.iter().zip(&medians).map(|(c, m)| (c[i] - m).powi(2)).sum::<f64>().sqrt()).collect()
}

/// A sorted copy of `values` (NaN last).
fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out = values.to_vec();
    out.sort_by(f64::total_cmp);
    out
}

/// The median of `values` (the mean of the middle two for an even count; 0 when empty).
fn median(values: &[f64]) -> f64 {
    let s = sorted(values);
    let n = s.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => s[n / 2],
        _ => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Scores `windows`' latents against `truth` (pixel size in Å per pixel).
pub fn score_order_parameters(
    windows: &EncodedWindows,
    truth: &TruthAtoms,
    pixel_size: f64,
) -> Result<OrderScores, AnalysisError> {
    let n = windows.frame.len();
    if windows.means.nrows() != n || windows.y.len() != n || windows.x.len() != n {
        return Err(AnalysisError::BadInput(format!(
            "{} latent rows for {n} windows; encode the windows again",
            windows.means.nrows()
        )));
    }
    let column = |name: &str| windows.names.iter().position(|c| c == name);
    let angle_col =
        column("angle").ok_or_else(|| AnalysisError::BadInput("the latents have no `angle` column".into()))?;
    let z1_col = column("z1").ok_or_else(|| AnalysisError::BadInput("the latents have no `z1` column".into()))?;
    let disordered = disordered_atoms(truth, pixel_size);
    let matched = match_windows(windows.frame, windows.y, windows.x, truth, MATCH_RADIUS_ANGSTROM / pixel_size);
    let rows: Vec<(usize, usize)> = matched.iter().enumerate().filter_map(|(i, m)| m.map(|j| (i, j))).collect();
    if rows.is_empty() {
        return Err(AnalysisError::BadInput(
            "no window's atom lies within 0.5 Å of a true atom: is this the simulated movie the windows were cut from?"
                .into(),
        ));
    }
    let is_disordered: Vec<bool> = rows.iter().map(|&(_, j)| disordered[j]).collect();
    let latent = |col: usize| -> Vec<f64> { rows.iter().map(|&(i, _)| f64::from(windows.means[[i, col]])).collect() };

    // Angle → sublattice, per (frame, grain) among bulk atoms.
    let angle = latent(angle_col);
    let mut groups: std::collections::BTreeMap<(u32, u8), Vec<usize>> = Default::default();
    for (k, &(_, j)) in rows.iter().enumerate() {
        if !is_disordered[k] {
            groups.entry((truth.frame[j], truth.grain[j])).or_default().push(k);
        }
    }
    let (mut correct, mut scored) = (0usize, 0usize);
    let mut detail = OrderDetail::default();
    for members in groups.values().filter(|m| m.len() >= MIN_GROUP) {
        let (labels, centre) = split_on_tripled_angle(&members.iter().map(|&k| angle[k]).collect::<Vec<_>>());
        detail
            .folded_angle
            .extend(members.iter().map(|&k| (wrap_degrees(3.0 * angle[k] - centre), truth.sublattice[rows[k].1])));
        let agree = members.iter().zip(&labels).filter(|(&k, &l)| truth.sublattice[rows[k].1] == l).count();
        correct += agree.max(members.len() - agree);
        scored += members.len();
    }
    let sublattice_accuracy = if scored == 0 { f64::NAN } else { correct as f64 / scored as f64 };

    let content: Vec<(usize, &String)> =
        windows.names.iter().enumerate().filter(|(_, name)| name.starts_with('z')).collect();
    let content_auc: Vec<LatentAuc> =
        content.iter().map(|&(col, name)| latent_auc(name, &latent(col), &is_disordered)).collect();
    let z1 = latent(z1_col);
    let z1_auc = latent_auc("z1", &z1, &is_disordered);
    let distance = distance_from_median(&content.iter().map(|&(col, _)| latent(col)).collect::<Vec<_>>());
    let distance_auc = latent_auc("distance from the bulk mode", &distance, &is_disordered);
    for (&value, &dis) in z1.iter().zip(&is_disordered) {
        if dis { &mut detail.z1_disordered } else { &mut detail.z1_bulk }.push(value);
    }

    let mut per_frame: std::collections::BTreeMap<u32, (f64, usize, usize, f64)> = Default::default();
    for (k, &(_, j)) in rows.iter().enumerate() {
        let entry = per_frame.entry(truth.frame[j]).or_default();
        entry.0 += z1[k];
        entry.1 += 1;
        entry.2 += usize::from(is_disordered[k]);
        entry.3 += distance[k];
    }
    let mean_distance: Vec<f64> = per_frame.values().map(|&(_, count, _, d)| d / count as f64).collect();
    let per_frame: Vec<FrameOrder> = per_frame
        .into_iter()
        .map(|(frame, (sum, count, dis, _))| FrameOrder {
            frame,
            mean_z1: sum / count as f64,
            disordered_fraction: dis as f64 / count as f64,
            windows: count,
        })
        .collect();
    let dynamics_r = pearson(
        &per_frame.iter().map(|f| f.mean_z1).collect::<Vec<_>>(),
        &per_frame.iter().map(|f| f.disordered_fraction).collect::<Vec<_>>(),
    );
    let distance_dynamics_r =
        pearson(&mean_distance, &per_frame.iter().map(|f| f.disordered_fraction).collect::<Vec<_>>());
    let n_dis = is_disordered.iter().filter(|&&d| d).count();
    Ok(OrderScores {
        windows_matched: rows.len(),
        windows_unmatched: n - rows.len(),
        bulk: rows.len() - n_dis,
        disordered: n_dis,
        sublattice_accuracy,
        z1_auc,
        content_auc,
        dynamics_r,
        dynamics_r_sign_free: dynamics_r.abs(),
        distance_auc,
        distance_dynamics_r,
        per_frame,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_windows_are_one_sided_when_they_leave_the_bulk_in_one_direction() {
        // 90 bulk windows near 0, 10 far ones: all at +3 on z, or half at ±3.
        let bulk = (0..90).map(|i| 0.01 * ((i % 7) as f64 - 3.0));
        let one_way: Vec<f64> = bulk.clone().chain(std::iter::repeat_n(3.0, 10)).collect();
        let both_ways: Vec<f64> = bulk.chain((0..10).map(|i| if i % 2 == 0 { 3.0 } else { -3.0 })).collect();
        for (z, want) in [(&one_way, 1.0), (&both_ways, 0.5)] {
            let distance = distance_from_median(std::slice::from_ref(z));
            assert_eq!(far_windows_one_sided(z, &distance), Some(want));
        }
        assert_eq!(far_windows_one_sided(&one_way[..19], &one_way[..19]), None);
        // A defect group larger than a tenth, its kinds at +3 and at −2: all of it is
        // far (not only the farther kind), and z sets it apart on both sides.
        let bulk = (0..70).map(|i| 0.01 * ((i % 7) as f64 - 3.0));
        let two_kinds: Vec<f64> = bulk.chain((0..30).map(|i| if i % 2 == 0 { 3.0 } else { -2.0 })).collect();
        let distance = distance_from_median(std::slice::from_ref(&two_kinds));
        assert_eq!(far_from_bulk(&distance).iter().filter(|&&f| f).count(), 30);
        assert_eq!(far_windows_one_sided(&two_kinds, &distance), Some(0.5));
        let flipped: Vec<f64> = one_way.iter().map(|v| -v).collect();
        assert_eq!(far_windows_one_sided(&flipped, &distance_from_median(std::slice::from_ref(&flipped))), Some(0.0));
    }

    #[test]
    fn auc_counts_ties_half_and_pearson_follows_a_line() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]), 0.0);
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), 0.5);
        assert!(roc_auc(&[0.5, 0.5], &[true, true]).is_nan());
        assert!((pearson(&[1.0, 2.0, 3.0, 4.0], &[3.0, 5.0, 7.0, 9.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn distance_from_the_bulk_mode_ranks_defects_that_sit_at_both_ends_of_z1() {
        // 80 bulk windows near (0.5, −0.2); 20 defects at z1 = ±2 (two kinds).
        let mut z1: Vec<f64> = (0..80).map(|i| 0.5 + ((i * 13 % 17) as f64 - 8.0) * 0.01).collect();
        let mut z2: Vec<f64> = (0..80).map(|i| -0.2 + ((i * 7 % 11) as f64 - 5.0) * 0.01).collect();
        z1.extend((0..20).map(|i| if i % 2 == 0 { 2.5 } else { -1.5 }));
        z2.extend((0..20).map(|i| -0.2 + (i % 3) as f64 * 0.05));
        let disordered: Vec<bool> = (0..100).map(|i| i >= 80).collect();
        let z1_auc = roc_auc(&z1, &disordered);
        assert!((z1_auc - 0.5).abs() < 0.1, "z1 alone cannot rank both kinds: {z1_auc}");
        let distance = distance_from_median(&[z1, z2]);
        assert_eq!(roc_auc(&distance, &disordered), 1.0);
        assert!(distance[..80].iter().all(|&d| d < 0.1), "the bulk sits at the median");
    }

    #[test]
    fn the_tripled_angle_split_finds_sites_turned_by_60_or_180_degrees() {
        // Site A at γ0 + k·120°, site B at γ0 + 60° + k·120° (or + 180°), with noise.
        let mut angles = Vec::new();
        let mut truth = Vec::new();
        for i in 0..300 {
            let noise = ((i * 37 % 101) as f64 / 101.0 - 0.5) * 0.3;
            let turn = (i % 3) as f64 * 120f64.to_radians();
            let b = i % 2;
            let offset = if b == 1 { [60f64, 180.0][i / 2 % 2].to_radians() } else { 0.0 };
            angles.push(0.7 + turn + offset + noise);
            truth.push(b as u8);
        }
        let agreement = |angles: &[f64], truth: &[u8]| {
            let (labels, _) = split_on_tripled_angle(angles);
            let agree = labels.iter().zip(truth).filter(|(a, b)| a == b).count();
            agree.max(truth.len() - agree)
        };
        assert_eq!(agreement(&angles, &truth), 300);
        // Sites only 10° apart in γ, straddling the cut of the circle at 3γ = 0.
        let close: Vec<f64> = (0..300)
            .map(|i| (i % 2) as f64 * -10f64.to_radians() + 4f64.to_radians() + (i % 7) as f64 * 0.004)
            .collect();
        assert_eq!(agreement(&close, &truth), 300);
        // No structure in γ: about half, as a coin would do.
        let random: Vec<f64> = (0..300).map(|i| ((i * 7919) % 360) as f64 * 0.0174533).collect();
        let share = agreement(&random, &truth) as f64 / 300.0;
        assert!(share < 0.62, "{share}");
    }
}
