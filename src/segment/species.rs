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

/// Mean of `frame` over the disc of `radius_px` px at (y, x), pixels outside the
/// frame left out; `None` when the disc misses the frame.
fn disc_mean(frame: ArrayView2<f32>, y: f64, x: f64, radius_px: f64) -> Option<f64> {
    let (h, w) = frame.dim();
    let reach = radius_px.max(0.5);
    let (r0, r1) = ((y - reach).ceil().max(0.0), (y + reach).floor().min(h as f64 - 1.0));
    let (c0, c1) = ((x - reach).ceil().max(0.0), (x + reach).floor().min(w as f64 - 1.0));
    let (mut sum, mut n) = (0.0, 0usize);
    let mut r = r0;
    while r <= r1 {
        let mut c = c0;
        while c <= c1 {
            if (r - y).hypot(c - x) <= reach {
                sum += frame[[r as usize, c as usize]] as f64;
                n += 1;
            }
            c += 1.0;
        }
        r += 1.0;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Turns to C every atom called Si whose intensity is below `min_ratio` × the median
/// of the atoms around it (positions in pixels of `frame`, at `pixel_size` Å/px);
/// returns how many changed. `min_ratio` ≤ 0 checks nothing.
pub fn check_silicon(frame: ArrayView2<f32>, pixel_size: f64, atoms: &mut [FoundAtom], min_ratio: f64) -> usize {
    if min_ratio <= 0.0 || !atoms.iter().any(|a| a.class == CLASS_SILICON) {
        return 0;
    }
    let floor = background(frame) as f64;
    let radius_px = DISC_RADIUS / pixel_size;
    let intensity: Vec<Option<f64>> =
        atoms.iter().map(|a| disc_mean(frame, a.y, a.x, radius_px).map(|m| m - floor)).collect();
    let points: Vec<[f64; 2]> = atoms.iter().map(|a| [a.y * pixel_size, a.x * pixel_size]).collect();
    let grid = NeighborGrid::new(&points, NEIGHBOURHOOD);
    let mut near = Vec::new();
    let mut changed = 0;
    for k in 0..atoms.len() {
        if atoms[k].class != CLASS_SILICON {
            continue;
        }
        let Some(own) = intensity[k] else { continue };
        grid.within(&points, points[k], NEIGHBOURHOOD, &mut near);
        let mut around: Vec<f64> = near.iter().filter(|&&j| j != k).filter_map(|&j| intensity[j]).collect();
        if around.is_empty() {
            continue;
        }
        let mid = around.len() / 2;
        let reference = *around.select_nth_unstable_by(mid, f64::total_cmp).1;
        if reference > 0.0 && own < min_ratio * reference {
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
    fn a_disc_at_the_frame_edge_averages_what_is_inside() {
        let frame = ndarray::Array2::from_shape_fn((10, 10), |(r, _)| r as f32);
        let edge = disc_mean(frame.view(), 0.0, 5.0, 2.0).unwrap();
        assert!(edge > 0.0 && edge < 2.0, "{edge}");
        assert!(disc_mean(frame.view(), -5.0, 5.0, 2.0).is_none());
    }
}
