//! Atom finding (paper, Methods: "the positions of atoms were obtained from the
//! DCNN output"): threshold the atom probability 1 − p(background), label connected
//! blobs, take probability-weighted centroids (sub-pixel), decide the class by
//! probability mass, merge blobs split in two, drop specks and a border margin.
//! (The Si check against the frame's intensity, `species`, follows wherever the
//! frame is at hand.)

use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

/// Settings of atom finding; lengths in Å so that they mean the same at any pixel size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtomFinderConfig {
    /// A pixel belongs to an atom when 1 − p(background) exceeds this.
    pub threshold: f32,
    /// Blobs smaller than this area (Å²) are noise.
    pub min_area: f64,
    /// Blobs whose centres are closer than this (Å) are one atom split in two.
    pub merge_distance: f64,
    /// Atoms closer than this to the frame edge (original pixels) are dropped.
    pub border: f64,
    /// An atom the network calls Si stays Si only when it is at least this many
    /// times as bright as the carbon around it (see `segment::species`); 0 trusts
    /// the network alone. Needs the frame: applied where atoms are found on a frame.
    pub si_min_ratio: f64,
}

impl AtomFinderConfig {
    /// Refuses settings (or a pixel size) that no atom finding can use.
    pub fn check(&self, pixel_size: f64) -> Result<(), String> {
        let pixel_ok = (super::MIN_PIXEL_SIZE..=super::MAX_PIXEL_SIZE).contains(&pixel_size);
        let lengths_ok = [self.min_area, self.merge_distance, self.border, self.si_min_ratio]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0);
        if pixel_ok && (0.0..1.0).contains(&self.threshold) && lengths_ok {
            return Ok(());
        }
        Err(format!(
            "atom finding needs a pixel size in {}–{} Å/px, a threshold in [0, 1), lengths and the Si ratio ≥ 0; \
             got pixel size {pixel_size}, threshold {}, min area {}, merge distance {}, border {}, Si ratio {}",
            super::MIN_PIXEL_SIZE,
            super::MAX_PIXEL_SIZE,
            self.threshold,
            self.min_area,
            self.merge_distance,
            self.border,
            self.si_min_ratio
        ))
    }

    /// Whether (y, x) keeps at least `border` px from every edge of a (height, width) frame.
    pub fn inside_border(&self, y: f64, x: f64, (h, w): (usize, usize)) -> bool {
        let b = self.border;
        y >= b && x >= b && y <= h as f64 - 1.0 - b && x <= w as f64 - 1.0 - b
    }
}

impl Default for AtomFinderConfig {
    fn default() -> Self {
        Self { threshold: 0.5, min_area: 0.05, merge_distance: 0.7, border: 0.0, si_min_ratio: 2.0 }
    }
}

/// One found atom, on the grid of the probabilities it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoundAtom {
    pub y: f64,
    pub x: f64,
    /// Class index (≥ 1).
    pub class: u8,
    /// Mean probability of the chosen class over the blob (0–1).
    pub confidence: f32,
}

struct Blob {
    weight: f64,
    sy: f64,
    sx: f64,
    area: usize,
    class_mass: Vec<f64>,
}

/// Finds atoms in probabilities (classes, H, W) on a grid of `pixel_size` Å/px.
pub fn find_atoms(probs: ArrayView3<f32>, pixel_size: f64, config: &AtomFinderConfig) -> Vec<FoundAtom> {
    let (classes, h, w) = probs.dim();
    let atomness = |r: usize, c: usize| 1.0 - probs[[0, r, c]];
    let mut label = vec![u32::MAX; h * w];
    let mut blobs: Vec<Blob> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..h * w {
        if label[start] != u32::MAX || atomness(start / w, start % w) <= config.threshold {
            continue;
        }
        let id = blobs.len() as u32;
        let mut blob = Blob { weight: 0.0, sy: 0.0, sx: 0.0, area: 0, class_mass: vec![0.0; classes] };
        label[start] = id;
        stack.push(start);
        while let Some(k) = stack.pop() {
            let (r, c) = (k / w, k % w);
            let a = atomness(r, c) as f64;
            blob.weight += a;
            blob.sy += a * r as f64;
            blob.sx += a * c as f64;
            blob.area += 1;
            for (cls, mass) in blob.class_mass.iter_mut().enumerate().skip(1) {
                *mass += probs[[cls, r, c]] as f64;
            }
            let neighbours =
                [(r > 0, k.wrapping_sub(w)), (r + 1 < h, k + w), (c > 0, k.wrapping_sub(1)), (c + 1 < w, k + 1)];
            for (ok, n) in neighbours {
                if ok && label[n] == u32::MAX && atomness(n / w, n % w) > config.threshold {
                    label[n] = id;
                    stack.push(n);
                }
            }
        }
        blobs.push(blob);
    }
    let min_area_px = config.min_area / (pixel_size * pixel_size);
    blobs.retain(|b| b.area as f64 >= min_area_px);
    merge_split_blobs(&mut blobs, config.merge_distance / pixel_size);
    blobs
        .into_iter()
        .map(|b| {
            let (class, mass) = b
                .class_mass
                .iter()
                .enumerate()
                .skip(1)
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(c, m)| (c as u8, *m))
                .unwrap_or((1, 0.0));
            FoundAtom { y: b.sy / b.weight, x: b.sx / b.weight, class, confidence: (mass / b.area as f64) as f32 }
        })
        // The border margin is part of finding (one path for the `atoms` step,
        // the C ABI and evaluation).
        .filter(|a| config.inside_border(a.y, a.x, (h, w)))
        .collect()
}

/// Merges blobs whose weighted centres lie within `distance` px, closest pairs first.
fn merge_split_blobs(blobs: &mut Vec<Blob>, distance: f64) {
    loop {
        let centre = |b: &Blob| (b.sy / b.weight, b.sx / b.weight);
        // Sort by row so only nearby candidates are compared.
        blobs.sort_by(|a, b| centre(a).0.total_cmp(&centre(b).0));
        let mut best: Option<(usize, usize, f64)> = None;
        for i in 0..blobs.len() {
            let (yi, xi) = centre(&blobs[i]);
            for (j, other) in blobs.iter().enumerate().skip(i + 1) {
                let (yj, xj) = centre(other);
                if yj - yi > distance {
                    break;
                }
                let d = (yj - yi).hypot(xj - xi);
                if d < distance && best.is_none_or(|(_, _, bd)| d < bd) {
                    best = Some((i, j, d));
                }
            }
        }
        let Some((i, j, _)) = best else { return };
        let other = blobs.swap_remove(j);
        let keep = &mut blobs[i];
        keep.weight += other.weight;
        keep.sy += other.sy;
        keep.sx += other.sx;
        keep.area += other.area;
        for (m, o) in keep.class_mass.iter_mut().zip(other.class_mass) {
            *m += o;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn paint(p: &mut Array3<f32>, y: f64, x: f64, r: f64, class: usize) {
        let (_, h, w) = p.dim();
        for row in 0..h {
            for col in 0..w {
                let d = (row as f64 - y).hypot(col as f64 - x);
                if d <= r {
                    let v = (1.0 - d / (r + 1.0)) as f32;
                    p[[class, row, col]] = v;
                    p[[0, row, col]] = 1.0 - v;
                }
            }
        }
    }

    #[test]
    fn finds_centres_classes_and_merges_split_blobs() {
        let mut p = Array3::<f32>::zeros((3, 40, 40));
        p.index_axis_mut(ndarray::Axis(0), 0).fill(1.0);
        paint(&mut p, 10.3, 12.6, 2.5, 1);
        paint(&mut p, 25.0, 30.0, 2.5, 2);
        // One atom seen as two touching-but-separate halves.
        paint(&mut p, 30.0, 8.0, 1.2, 1);
        paint(&mut p, 30.0, 11.0, 1.2, 1);
        // A speck below the minimum area.
        p[[0, 2, 35]] = 0.3;
        p[[1, 2, 35]] = 0.7;
        let mut atoms = find_atoms(p.view(), 0.2, &AtomFinderConfig::default());
        atoms.sort_by(|a, b| a.y.total_cmp(&b.y));
        assert_eq!(atoms.len(), 3, "{atoms:?}");
        assert!((atoms[0].y - 10.3).abs() < 0.15 && (atoms[0].x - 12.6).abs() < 0.15, "{:?}", atoms[0]);
        assert_eq!(atoms[0].class, 1);
        assert_eq!(atoms[1].class, 2);
        assert!((atoms[2].x - 9.5).abs() < 0.1, "merged centre {:?}", atoms[2]);
        assert!(atoms.iter().all(|a| a.confidence > 0.5 && a.confidence <= 1.0));
    }
}
