//! The species check of atom finding (issue 14 §1; paper, Methods: Si told from C by
//! its Z-contrast). HAADF intensity grows as Z^1.6–1.8, so a substitutional Si is
//! 2.5–4.5× as bright as the carbon around it whatever the probe, its aberrations, the
//! detector's angles, the dose or the scan — measured on multislice (abTEM) frames
//! and on the real frames of ../shared/data/real — while carbon stays within ~1.8× of
//! its neighbours, edges included. The U-Net's Si class was learned from one
//! simulator's contrast and can take a bright-looking carbon for Si; so an atom it
//! calls Si stays Si only when its own intensity, relative to the carbon around it,
//! says so too.
//!
//! Intensity of an atom: the frame's mean over a disc of [`DISC_RADIUS`] Å at its
//! centre, above the frame's background (its 1st percentile). Reference: the median
//! of that intensity over the other atoms within [`NEIGHBOURHOOD`] Å, whatever their
//! class — dopants are a few per cent, so the median is carbon's even when the
//! network's classes are wrong. An atom with no neighbours keeps the network's class.
//!
//! A dopant is also a sharper peak, not only a brighter spot: the rim of a
//! contamination patch or a thickness step is bright but flat. So its prominence —
//! the disc's mean minus the mean over the ring [`RING`] Å around it, inside its
//! bonds — must be ≥ [`PROMINENCE_MIN_RATIO`] × the median prominence of the same
//! neighbours. Measured with the atoms' true positions: true Si 3.8–8.2× (multislice
//! dev sets, ≥ 5.0× with aberrated probes; 5.5× and 8.0–8.2× on the real Si frames),
//! the U-Net's false Si at the contamination rim of the real grain-boundary frame
//! 1.6–2.4× (depending on where its centroid falls). A wider ring (0.6–0.9 Å) put that
//! false Si at up to 3.5×: the ring must stay close to the core.

use ndarray::ArrayView2;

use super::FoundAtom;
use crate::sim::{NeighborGrid, CLASS_CARBON, CLASS_SILICON};

/// Radius (Å) of the disc an atom's intensity is averaged over: inside the probe's
/// core, so neighbours 1.42 Å away hardly add to it.
pub const DISC_RADIUS: f64 = 0.4;
/// Radius (Å) of the neighbourhood whose carbon sets the reference: the first three
/// shells of the lattice (≈ 12 atoms), local enough to follow thickness and
/// contamination gradients.
pub const NEIGHBOURHOOD: f64 = 5.0;
/// Inner and outer radius (Å) of the ring a peak's prominence is measured against:
/// beyond the probe's core, well inside the 1.42 Å bonds.
pub const RING: (f64, f64) = (0.5, 0.8);
/// How many times the neighbours' median prominence a Si's own must reach.
pub const PROMINENCE_MIN_RATIO: f64 = 3.0;
/// Frames larger than this many pixels estimate the background on a subsample.
const BACKGROUND_SAMPLE: usize = 1 << 20;

/// The frame's background: its 1st percentile (vacuum in holes, or the dim centres
/// of the hexagons where there is no vacuum).
fn background(frame: ArrayView2<f32>) -> f32 {
    let step = frame.len().div_ceil(BACKGROUND_SAMPLE).max(1);
    let mut sample: Vec<f32> = frame.iter().step_by(step).copied().collect();
    let k = sample.len() / 100;
    *sample.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Mean of `frame` over the pixels between `inner_px` (excluded; negative: none) and
/// `outer_px` px from (y, x), pixels outside the frame left out; `None` when the
/// ring misses the frame.
fn ring_mean(frame: ArrayView2<f32>, y: f64, x: f64, inner_px: f64, outer_px: f64) -> Option<f64> {
    let (h, w) = frame.dim();
    let reach = outer_px.max(0.5);
    let (r0, r1) = ((y - reach).ceil().max(0.0), (y + reach).floor().min(h as f64 - 1.0));
    let (c0, c1) = ((x - reach).ceil().max(0.0), (x + reach).floor().min(w as f64 - 1.0));
    let (mut sum, mut n) = (0.0, 0usize);
    let mut r = r0;
    while r <= r1 {
        let mut c = c0;
        while c <= c1 {
            let d = (r - y).hypot(c - x);
            if d > inner_px && d <= reach {
                sum += frame[[r as usize, c as usize]] as f64;
                n += 1;
            }
            c += 1.0;
        }
        r += 1.0;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Mean of `frame` over the disc of `radius_px` px at (y, x) (see [`ring_mean`]).
fn disc_mean(frame: ArrayView2<f32>, y: f64, x: f64, radius_px: f64) -> Option<f64> {
    ring_mean(frame, y, x, -1.0, radius_px)
}

/// An atom's intensity above `floor` and its prominence over its [`RING`].
fn peak(frame: ArrayView2<f32>, atom: &FoundAtom, pixel_size: f64, floor: f64) -> Option<[f64; 2]> {
    let core = disc_mean(frame, atom.y, atom.x, DISC_RADIUS / pixel_size)?;
    let ring = ring_mean(frame, atom.y, atom.x, RING.0 / pixel_size, RING.1 / pixel_size)?;
    Some([core - floor, core - ring])
}

/// The median of `values` (`None` when empty).
fn median(mut values: Vec<f64>) -> Option<f64> {
    let mid = values.len() / 2;
    (!values.is_empty()).then(|| *values.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Turns to C every atom called Si whose intensity is below `min_ratio` × the median
/// of the atoms around it, or whose prominence is below [`PROMINENCE_MIN_RATIO`] ×
/// theirs (positions in pixels of `frame`, at `pixel_size` Å/px); returns how many
/// changed. `min_ratio` ≤ 0 checks nothing.
pub fn check_silicon(frame: ArrayView2<f32>, pixel_size: f64, atoms: &mut [FoundAtom], min_ratio: f64) -> usize {
    if min_ratio <= 0.0 || !atoms.iter().any(|a| a.class == CLASS_SILICON) {
        return 0;
    }
    let floor = background(frame) as f64;
    let peaks: Vec<Option<[f64; 2]>> = atoms.iter().map(|a| peak(frame, a, pixel_size, floor)).collect();
    let points: Vec<[f64; 2]> = atoms.iter().map(|a| [a.y * pixel_size, a.x * pixel_size]).collect();
    let grid = NeighborGrid::new(&points, NEIGHBOURHOOD);
    let mut near = Vec::new();
    let mut changed = 0;
    for k in 0..atoms.len() {
        if atoms[k].class != CLASS_SILICON {
            continue;
        }
        let Some([own, own_prominence]) = peaks[k] else { continue };
        grid.within(&points, points[k], NEIGHBOURHOOD, &mut near);
        let around: Vec<[f64; 2]> = near.iter().filter(|&&j| j != k).filter_map(|&j| peaks[j]).collect();
        let (Some(reference), Some(prominence)) =
            (median(around.iter().map(|p| p[0]).collect()), median(around.iter().map(|p| p[1]).collect()))
        else {
            continue;
        };
        // A reference ≤ 0 (no carbon contrast to compare with) leaves the class alone.
        let dim = reference > 0.0 && own < min_ratio * reference;
        let flat = prominence > 0.0 && own_prominence < PROMINENCE_MIN_RATIO * prominence;
        if dim || flat {
            atoms[k].class = CLASS_CARBON;
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{simulate_frame, SimParams};

    fn atoms_of(frame: &crate::sim::SimFrame) -> Vec<FoundAtom> {
        let truth =
            |a: &crate::sim::TruthAtom| FoundAtom { y: a.y as f64, x: a.x as f64, class: a.class, confidence: 1.0 };
        frame.atoms.iter().map(truth).collect()
    }

    #[test]
    fn true_silicon_stays_and_carbon_called_silicon_goes_back_to_carbon() {
        let params = SimParams { height: 200, width: 200, si_fraction: 0.03, holes: 1, ..SimParams::default() };
        let frame = simulate_frame(&params, 11).unwrap();
        let mut atoms = atoms_of(&frame);
        let si = atoms.iter().filter(|a| a.class == CLASS_SILICON).count();
        assert!(si >= 3, "the test needs Si, got {si}");
        // Every true Si passes the check.
        assert_eq!(check_silicon(frame.image.view(), params.pixel_size, &mut atoms, 2.0), 0);
        // Carbon wrongly called Si (including ones at the hole's edge) is turned back,
        // even when the network calls every atom Si.
        let mut wrong = atoms_of(&frame);
        let mut planted = 0;
        for a in wrong.iter_mut().filter(|a| a.class == CLASS_CARBON).step_by(7) {
            a.class = CLASS_SILICON;
            planted += 1;
        }
        let changed = check_silicon(frame.image.view(), params.pixel_size, &mut wrong, 2.0);
        assert_eq!(changed, planted);
        assert_eq!(wrong, atoms, "exactly the planted atoms changed back");
        let mut all_si = atoms_of(&frame);
        all_si.iter_mut().for_each(|a| a.class = CLASS_SILICON);
        check_silicon(frame.image.view(), params.pixel_size, &mut all_si, 2.0);
        assert_eq!(all_si, atoms);
        // Ratio 0 checks nothing.
        let mut unchecked = atoms_of(&frame);
        unchecked[0].class = CLASS_SILICON;
        assert_eq!(check_silicon(frame.image.view(), params.pixel_size, &mut unchecked, 0.0), 0);
    }

    #[test]
    fn a_bright_flat_spot_called_silicon_goes_back_to_carbon() {
        // A carbon atom under a broad bright blob (the rim of contamination): brighter
        // than twice its neighbours, but no sharper than they are.
        let params = SimParams { height: 200, width: 200, si_fraction: 0.0, holes: 0, ..SimParams::default() };
        let mut frame = simulate_frame(&params, 5).unwrap();
        let atoms = atoms_of(&frame);
        let floor = background(frame.image.view()) as f64;
        let carbon: Vec<f64> =
            atoms.iter().filter_map(|a| peak(frame.image.view(), a, params.pixel_size, floor)).map(|p| p[0]).collect();
        let carbon_peak = median(carbon).unwrap();
        let centre = atoms
            .iter()
            .min_by(|a, b| (a.y - 100.0).hypot(a.x - 100.0).total_cmp(&(b.y - 100.0).hypot(b.x - 100.0)))
            .unwrap();
        let sigma_px = 1.5 / params.pixel_size;
        for ((r, c), v) in frame.image.indexed_iter_mut() {
            let d2 = (r as f64 - centre.y).powi(2) + (c as f64 - centre.x).powi(2);
            *v += (3.0 * carbon_peak * (-d2 / (2.0 * sigma_px * sigma_px)).exp()) as f32;
        }
        let mut called = atoms.clone();
        let k = called.iter().position(|a| a == centre).unwrap();
        called[k].class = CLASS_SILICON;
        let intensity = |a: &FoundAtom| peak(frame.image.view(), a, params.pixel_size, floor).unwrap()[0];
        let near = |a: &&FoundAtom| {
            (a.y - centre.y).hypot(a.x - centre.x) * params.pixel_size <= NEIGHBOURHOOD && *a != centre
        };
        let around = median(atoms.iter().filter(near).map(intensity).collect()).unwrap();
        let own = intensity(centre);
        assert!(own > 2.0 * around, "the spot must pass the intensity test alone: {own} vs {around}");
        assert_eq!(check_silicon(frame.image.view(), params.pixel_size, &mut called, 2.0), 1);
        assert_eq!(called, atoms);
    }

    #[test]
    fn a_disc_at_the_frame_edge_averages_what_is_inside() {
        let frame = ndarray::Array2::from_shape_fn((10, 10), |(r, _)| r as f32);
        let edge = disc_mean(frame.view(), 0.0, 5.0, 2.0).unwrap();
        assert!(edge > 0.0 && edge < 2.0, "{edge}");
        assert!(disc_mean(frame.view(), -5.0, 5.0, 2.0).is_none());
    }
}
