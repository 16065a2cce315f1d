//! Parameters of the simulator, with their units, defaults and validation.

use serde::{Deserialize, Serialize};

use super::SimError;

/// Graphene lattice constant a (Å).
pub const LATTICE_CONSTANT: f64 = 2.46;
/// Carbon–carbon bond length a/√3 (Å).
pub const CC_BOND: f64 = 1.42;
/// Largest pixel size that still separates neighbouring atoms (C–C ≥ ~3 px).
pub const MAX_PIXEL_SIZE: f64 = 0.5;
/// Largest frame edge accepted (px); guards against typos that would allocate terabytes.
pub const MAX_EDGE: usize = 16_384;

/// How one frame of Si-doped graphene is imaged. Lengths in ångström unless said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimParams {
    /// Frame height (px).
    pub height: usize,
    /// Frame width (px).
    pub width: usize,
    /// Pixel size (Å/px).
    pub pixel_size: f64,
    /// Standard deviation of the Gaussian probe (Å).
    pub probe_sigma: f64,
    /// Expected electron counts at the peak of an isolated C atom (the dose).
    pub dose: f64,
    /// Standard deviation of the Gaussian read noise, in units of the C peak.
    pub read_noise: f64,
    /// Constant detector background, in units of the C peak.
    pub background: f64,
    /// Exponent of the Z-contrast law: intensity ∝ Z^exponent.
    pub z_exponent: f64,
    /// Fraction of lattice atoms substituted by Si.
    pub si_fraction: f64,
    /// Fraction of lattice atoms removed as single vacancies.
    pub vacancy_fraction: f64,
    /// Number of holes (regions without atoms) in the field of view.
    pub holes: usize,
    /// Range of the hole radii (Å).
    pub hole_radius: [f64; 2],
    /// Number of grains; more than one gives rotated grains and grain boundaries.
    pub grains: usize,
    /// Number of Stone–Wales (5-7) defects.
    pub stone_wales: usize,
    /// Number of amorphous contamination blobs.
    pub contamination: usize,
    /// Radius of a contamination blob (Å).
    pub contamination_radius: f64,
    /// Lattice rotation (rad, counter-clockwise); `None` draws it at random.
    pub rotation: Option<f64>,
    /// RMS horizontal jitter of each scan line (px).
    pub line_jitter: f64,
    /// Horizontal drift accumulated from the top to the bottom of a frame (px).
    pub drift: f64,
    /// Radius of the class label disks and width of the probability targets (Å).
    pub label_radius: f64,
    /// Fraction of the probe's intensity in a wide tail (0 = a pure Gaussian): the
    /// Airy rings and aberration tails of a real probe, which multislice frames have.
    pub probe_tail: f64,
    /// σ of that tail (Å).
    pub probe_tail_sigma: f64,
    /// Brightness of each amorphous contamination atom in units of a C atom (thick
    /// contamination is several layers: brighter than the lattice).
    pub contamination_weight: f64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            height: 512,
            width: 512,
            pixel_size: 0.104,
            probe_sigma: 0.6,
            dose: 40.0,
            read_noise: 0.05,
            background: 0.02,
            z_exponent: 1.7,
            si_fraction: 0.03,
            vacancy_fraction: 0.01,
            holes: 1,
            hole_radius: [4.0, 9.0],
            grains: 1,
            stone_wales: 1,
            contamination: 0,
            contamination_radius: 8.0,
            rotation: None,
            line_jitter: 0.05,
            drift: 0.0,
            label_radius: 0.5,
            probe_tail: 0.0,
            probe_tail_sigma: 2.0,
            contamination_weight: 1.0,
        }
    }
}

impl SimParams {
    /// A frame of perfect graphene: no defects, holes, noise or distortion.
    pub fn pristine(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            si_fraction: 0.0,
            vacancy_fraction: 0.0,
            holes: 0,
            grains: 1,
            stone_wales: 0,
            contamination: 0,
            line_jitter: 0.0,
            drift: 0.0,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: &str| Err(SimError::InvalidParameter(what.to_string()));
        if self.height == 0 || self.width == 0 {
            return bad(&format!("frame size must be positive, got {}×{} px", self.height, self.width));
        }
        if self.height > MAX_EDGE || self.width > MAX_EDGE {
            return bad(&format!(
                "frame size {}×{} px exceeds the limit of {MAX_EDGE} px per edge",
                self.height, self.width
            ));
        }
        if !(self.pixel_size.is_finite() && self.pixel_size > 0.0) {
            return bad(&format!("pixel size must be a positive number of Å/px, got {}", self.pixel_size));
        }
        if self.pixel_size > MAX_PIXEL_SIZE {
            return Err(SimError::LatticeNotResolved { pixel_size: self.pixel_size, max: MAX_PIXEL_SIZE });
        }
        if !(self.probe_sigma.is_finite() && self.probe_sigma > 0.0 && self.probe_sigma < CC_BOND) {
            return bad(&format!(
                "probe sigma must be in (0, {CC_BOND}) Å so that atoms stay separate, got {}",
                self.probe_sigma
            ));
        }
        if !(self.dose.is_finite() && self.dose >= 0.0) {
            return bad(&format!("dose must be ≥ 0 counts per C peak (0 = no shot noise), got {}", self.dose));
        }
        for (name, v) in [("read noise", self.read_noise), ("background", self.background)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(&format!("{name} must be ≥ 0, got {v}"));
            }
        }
        if !(self.z_exponent.is_finite() && self.z_exponent > 0.0 && self.z_exponent <= 3.0) {
            return bad(&format!("Z-contrast exponent must be in (0, 3], got {}", self.z_exponent));
        }
        for (name, v) in [("Si fraction", self.si_fraction), ("vacancy fraction", self.vacancy_fraction)] {
            if !(v.is_finite() && (0.0..=0.5).contains(&v)) {
                return bad(&format!("{name} must be in [0, 0.5], got {v}"));
            }
        }
        let [r0, r1] = self.hole_radius;
        if !(r0.is_finite() && r1.is_finite() && r0 > 0.0 && r0 <= r1) {
            return bad(&format!("hole radius range must satisfy 0 < min ≤ max Å, got [{r0}, {r1}]"));
        }
        if self.grains == 0 {
            return bad("the number of grains must be at least 1");
        }
        if !(self.contamination_radius.is_finite() && self.contamination_radius > 0.0) {
            return bad(&format!("contamination radius must be > 0 Å, got {}", self.contamination_radius));
        }
        if let Some(r) = self.rotation {
            if !r.is_finite() {
                return bad("rotation must be a finite angle in radians");
            }
        }
        for (name, v) in [("line jitter", self.line_jitter), ("drift", self.drift)] {
            if !v.is_finite() || (name == "line jitter" && v < 0.0) {
                return bad(&format!("{name} must be a finite number of px (jitter ≥ 0), got {v}"));
            }
        }
        if !(self.probe_tail.is_finite() && (0.0..1.0).contains(&self.probe_tail)) {
            return bad(&format!("probe tail must be a fraction in [0, 1), got {}", self.probe_tail));
        }
        if !(self.probe_tail_sigma.is_finite() && self.probe_tail_sigma > self.probe_sigma) {
            return bad(&format!(
                "the probe tail's sigma must exceed the probe's ({} Å), got {}",
                self.probe_sigma, self.probe_tail_sigma
            ));
        }
        if !(self.contamination_weight.is_finite() && self.contamination_weight >= 0.0) {
            return bad(&format!("contamination weight must be ≥ 0, got {}", self.contamination_weight));
        }
        if !(self.label_radius.is_finite() && self.label_radius > 0.0 && self.label_radius < CC_BOND / 2.0) {
            return bad(&format!("label radius must be in (0, {}) Å, got {}", CC_BOND / 2.0, self.label_radius));
        }
        Ok(())
    }

    /// Field of view (height, width) in Å.
    pub fn field_of_view(&self) -> [f64; 2] {
        [self.height as f64 * self.pixel_size, self.width as f64 * self.pixel_size]
    }
}

/// How the sample evolves under the beam from one frame to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MovieParams {
    /// Number of frames.
    pub frames: usize,
    /// Radial growth of every hole per frame (Å).
    pub hole_growth: f64,
    /// Fraction of the remaining atoms knocked out per frame.
    pub vacancy_rate: f64,
    /// Probability per frame that a new hole opens at a random vacancy.
    pub hole_nucleation: f64,
    /// Probability per frame that a Si atom hops one site toward the nearest hole edge.
    pub si_hop_probability: f64,
    /// Lattice rotation per frame (rad, counter-clockwise).
    pub rotation_per_frame: f64,
    /// RMS stage drift per frame (Å).
    pub stage_drift: f64,
}

impl Default for MovieParams {
    fn default() -> Self {
        Self {
            frames: 10,
            hole_growth: 0.4,
            vacancy_rate: 0.002,
            hole_nucleation: 0.15,
            si_hop_probability: 0.3,
            rotation_per_frame: 0.002,
            stage_drift: 0.1,
        }
    }
}

impl MovieParams {
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: String| Err(SimError::InvalidParameter(what));
        if self.frames == 0 {
            return bad("a movie needs at least one frame".into());
        }
        for (name, v) in [
            ("hole growth", self.hole_growth),
            ("vacancy rate", self.vacancy_rate),
            ("hole nucleation", self.hole_nucleation),
            ("Si hop probability", self.si_hop_probability),
            ("stage drift", self.stage_drift),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} must be ≥ 0, got {v}"));
            }
        }
        for (name, v) in [
            ("vacancy rate", self.vacancy_rate),
            ("hole nucleation", self.hole_nucleation),
            ("Si hop probability", self.si_hop_probability),
        ] {
            if v > 1.0 {
                return bad(format!("{name} is a probability and must be ≤ 1, got {v}"));
            }
        }
        if !self.rotation_per_frame.is_finite() {
            return bad("rotation per frame must be finite".into());
        }
        Ok(())
    }
}
