//! `subimages` — step 3 of the paper (Kalinin et al. 2021, Fig. 1 and Methods): a
//! window centred on every atom of every frame, cut from the raw frames or from the
//! segmentation's probability channels (default: the sum of the atom channels, as
//! the authors' notebook does), so that each atom's neighbourhood becomes one sample
//! for the rVAE. Window sizes are given in ångström (same physics at any pixel size)
//! or in pixels.
//!
//! Centres are rounded to the nearest pixel by default, as in the paper: the rVAE's
//! translation latents (dx, dy) absorb the sub-pixel offset, and rounding copies
//! pixels untouched. Bilinear interpolation at the exact centre is an option for
//! models without translation latents.
//!
//! Windows may be resampled to a coarser pitch (`sampling_angstrom`): atom-resolved
//! frames are often sampled at ~0.1 Å/px, far finer than the ~1 Å a STEM probe
//! resolves, and the rVAE's decoder costs in proportion to a window's pixels, so a
//! 6 Å window at 0.2 Å/px (30² px) holds what 58² px at 0.104 Å/px hold at a
//! quarter of the cost. Each window pixel is then the mean of the frame over its
//! footprint (a box filter, so nothing aliases).

use ndarray::{s, Array2, Array3, ArrayView2};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubimageError {
    #[error("bad window settings: {0}")]
    BadSettings(String),
    #[error("bad input: {0}")]
    BadInput(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WindowSource {
    /// Sum of the atom-class probability channels (classes ≥ 1).
    #[default]
    Atoms,
    /// The raw frames.
    Frames,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AtomSelection {
    /// Carbon only (class 1), as the paper.
    #[default]
    Carbon,
    Silicon,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Centring {
    #[default]
    Round,
    Bilinear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EdgePolicy {
    /// Atoms whose window crosses the frame edge are skipped (as the paper).
    #[default]
    Skip,
    /// Such windows are completed with zeros.
    Pad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WindowNorm {
    #[default]
    None,
    /// Each window scaled to [0, 1].
    MinMax,
    /// Each window to zero mean, unit variance.
    ZScore,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    /// Window edge in Å (used unless `size_px` is set); ≈ 4 Å holds an atom and its
    /// three neighbours.
    pub size_angstrom: f64,
    /// Window edge in pixels (8–128), overriding `size_angstrom`.
    pub size_px: Option<usize>,
    /// Finest pitch of the windows in Å/px: frames sampled finer are averaged
    /// down to it (None: the frame's own pixels; coarser frames keep theirs).
    pub sampling_angstrom: Option<f64>,
    pub source: WindowSource,
    pub atoms: AtomSelection,
    pub centring: Centring,
    pub edges: EdgePolicy,
    pub normalization: WindowNorm,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            size_angstrom: 4.0,
            size_px: None,
            sampling_angstrom: None,
            source: WindowSource::Atoms,
            atoms: AtomSelection::Carbon,
            centring: Centring::Round,
            edges: EdgePolicy::Skip,
            normalization: WindowNorm::None,
        }
    }
}

impl WindowConfig {
    /// The window edge in pixels for frames of `pixel_size` Å/px.
    pub fn size_at(&self, pixel_size: f64) -> Result<usize, SubimageError> {
        let pitch = self.pitch_at(pixel_size)?;
        let w = match self.size_px {
            Some(w) => w,
            None => {
                if !(self.size_angstrom.is_finite() && self.size_angstrom > 0.0) {
                    return Err(SubimageError::BadSettings(format!("window size {} Å", self.size_angstrom)));
                }
                (self.size_angstrom / pitch).round() as usize
            }
        };
        if !(8..=128).contains(&w) {
            return Err(SubimageError::BadSettings(format!(
                "a window of {w} px is outside 8–128 px (at {pitch} Å/px); choose another size"
            )));
        }
        Ok(w)
    }

    /// Å per window pixel for frames of `pixel_size` Å/px: the frame's own, or
    /// `sampling_angstrom` where that is coarser.
    pub fn pitch_at(&self, pixel_size: f64) -> Result<f64, SubimageError> {
        match self.sampling_angstrom {
            None => Ok(pixel_size),
            Some(s) if s.is_finite() && s > 0.0 => Ok(s.max(pixel_size)),
            Some(s) => Err(SubimageError::BadSettings(format!("window sampling {s} Å/px"))),
        }
    }

    pub fn wants(&self, class: u8) -> bool {
        match self.atoms {
            AtomSelection::Carbon => class == 1,
            AtomSelection::Silicon => class == 2,
            AtomSelection::All => class >= 1,
        }
    }
}

/// Windows and where they come from: one row per window.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// (N, w, w).
    pub data: Array3<f32>,
    /// Row of the atom table each window belongs to.
    pub atom_index: Vec<u64>,
    pub frame: Vec<u32>,
    pub y: Vec<f32>,
    pub x: Vec<f32>,
    pub class: Vec<u8>,
}

impl Windows {
    pub fn empty(w: usize) -> Self {
        Self { data: Array3::zeros((0, w, w)), atom_index: vec![], frame: vec![], y: vec![], x: vec![], class: vec![] }
    }
    pub fn len(&self) -> usize {
        self.atom_index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.atom_index.is_empty()
    }
    pub fn size(&self) -> usize {
        self.data.dim().1
    }
}

/// Cuts one window of edge `w` centred on (y, x), or None when it crosses the
/// edge and the policy is to skip.
pub fn cut_window(
    image: ArrayView2<f32>,
    y: f64,
    x: f64,
    w: usize,
    centring: Centring,
    edges: EdgePolicy,
) -> Option<Array2<f32>> {
    cut_window_resampled(image, y, x, w, 1.0, centring, edges)
}

/// As [`cut_window`], with `step` frame pixels per window pixel (≥ 1): above 1,
/// each window pixel is the mean of the frame over its `step`² footprint (bilinear
/// samples on a sub-grid), centred on the exact or the rounded centre.
pub fn cut_window_resampled(
    image: ArrayView2<f32>,
    y: f64,
    x: f64,
    w: usize,
    step: f64,
    centring: Centring,
    edges: EdgePolicy,
) -> Option<Array2<f32>> {
    if step > 1.0 {
        return cut_averaged(image, y, x, w, step, centring, edges);
    }
    let (h, wd) = image.dim();
    // A centre a whole window beyond the image (or not a number) has nothing of
    // it to cut, under either edge policy.
    let reach = w as f64;
    if !(y > -reach && x > -reach && y < h as f64 + reach && x < wd as f64 + reach) {
        return None;
    }
    // Pixel (i, j) of the window sits at (y − (w−1)/2 + i, x − (w−1)/2 + j).
    let half = (w as f64 - 1.0) / 2.0;
    match centring {
        Centring::Round => {
            let top = (y - half).round() as isize;
            let left = (x - half).round() as isize;
            let inside = top >= 0 && left >= 0 && top + w as isize <= h as isize && left + w as isize <= wd as isize;
            if inside {
                return Some(
                    image.slice(s![top as usize..top as usize + w, left as usize..left as usize + w]).to_owned(),
                );
            }
            if edges == EdgePolicy::Skip {
                return None;
            }
            Some(Array2::from_shape_fn((w, w), |(i, j)| {
                let (r, c) = (top + i as isize, left + j as isize);
                if r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < wd {
                    image[[r as usize, c as usize]]
                } else {
                    0.0
                }
            }))
        }
        Centring::Bilinear => {
            let (top, left) = (y - half, x - half);
            let inside = top >= 0.0
                && left >= 0.0
                && top + w as f64 - 1.0 <= h as f64 - 1.0
                && left + w as f64 - 1.0 <= wd as f64 - 1.0;
            if !inside && edges == EdgePolicy::Skip {
                return None;
            }
            Some(Array2::from_shape_fn((w, w), |(i, j)| bilinear_at(image, top + i as f64, left + j as f64)))
        }
    }
}

/// The image at (py, px) by bilinear interpolation, 0 beyond its edges.
fn bilinear_at(image: ArrayView2<f32>, py: f64, px: f64) -> f32 {
    let (h, wd) = image.dim();
    let at = |r: isize, c: isize| {
        if r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < wd {
            image[[r as usize, c as usize]]
        } else {
            0.0
        }
    };
    let (r0, c0) = (py.floor(), px.floor());
    let (fy, fx) = ((py - r0) as f32, (px - c0) as f32);
    let (r0, c0) = (r0 as isize, c0 as isize);
    (1.0 - fy) * ((1.0 - fx) * at(r0, c0) + fx * at(r0, c0 + 1))
        + fy * ((1.0 - fx) * at(r0 + 1, c0) + fx * at(r0 + 1, c0 + 1))
}

/// The box-filtered window of [`cut_window_resampled`] for `step` > 1.
fn cut_averaged(
    image: ArrayView2<f32>,
    y: f64,
    x: f64,
    w: usize,
    step: f64,
    centring: Centring,
    edges: EdgePolicy,
) -> Option<Array2<f32>> {
    let (h, wd) = image.dim();
    let (y, x) = match centring {
        Centring::Round => (y.round(), x.round()),
        Centring::Bilinear => (y, x),
    };
    let reach = w as f64 * step;
    if !(y > -reach && x > -reach && y < h as f64 + reach && x < wd as f64 + reach) {
        return None;
    }
    // The footprint's outer sample points sit half a sub-step inside its edges.
    let samples = step.ceil() as usize;
    let sub = step / samples as f64;
    let first = -(w as f64 * step) / 2.0 + sub / 2.0;
    let last = (w as f64 * step) / 2.0 - sub / 2.0;
    let inside = y + first >= 0.0 && x + first >= 0.0 && y + last <= h as f64 - 1.0 && x + last <= wd as f64 - 1.0;
    if !inside && edges == EdgePolicy::Skip {
        return None;
    }
    let offsets: Vec<f64> = (0..w * samples).map(|k| first + k as f64 * sub).collect();
    let norm = 1.0 / (samples * samples) as f32;
    Some(Array2::from_shape_fn((w, w), |(i, j)| {
        let mut sum = 0.0;
        for dy in &offsets[i * samples..(i + 1) * samples] {
            for dx in &offsets[j * samples..(j + 1) * samples] {
                sum += bilinear_at(image, y + dy, x + dx);
            }
        }
        sum * norm
    }))
}

fn normalise(window: &mut Array2<f32>, norm: WindowNorm) {
    match norm {
        WindowNorm::None => {}
        WindowNorm::MinMax => {
            let (lo, hi) = window.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            let span = (hi - lo).max(f32::EPSILON);
            window.mapv_inplace(|v| (v - lo) / span);
        }
        WindowNorm::ZScore => {
            let n = window.len() as f32;
            let mean = window.sum() / n;
            let sd = (window.mapv(|v| (v - mean).powi(2)).sum() / n).sqrt().max(f32::EPSILON);
            window.mapv_inplace(|v| (v - mean) / sd);
        }
    }
}

/// Collects windows frame by frame: `image_of(frame)` gives the image to cut from
/// (raw frame or summed probabilities); atoms are (frame, y, x, class) rows.
pub struct WindowCutter {
    config: WindowConfig,
    w: usize,
    /// Frame pixels per window pixel.
    step: f64,
    out: Vec<f32>,
    windows: Windows,
}

impl WindowCutter {
    pub fn new(config: WindowConfig, pixel_size: f64) -> Result<Self, SubimageError> {
        let w = config.size_at(pixel_size)?;
        let step = config.pitch_at(pixel_size)? / pixel_size;
        Ok(Self { config, w, step, out: Vec::new(), windows: Windows::empty(w) })
    }

    pub fn size(&self) -> usize {
        self.w
    }

    /// Adds the windows of one frame. `rows` are (atom index, y, x, class).
    pub fn add_frame(
        &mut self,
        frame: u32,
        image: ArrayView2<f32>,
        rows: &[(u64, f32, f32, u8)],
    ) -> Result<(), SubimageError> {
        let (h, wd) = image.dim();
        let reach = (self.w as f64 * self.step).ceil() as usize;
        if reach > h || reach > wd {
            return Err(SubimageError::BadInput(format!(
                "a window of {reach}×{reach} frame px does not fit in a {h}×{wd} px frame"
            )));
        }
        for &(index, y, x, class) in rows {
            if !self.config.wants(class) {
                continue;
            }
            let (centring, edges) = (self.config.centring, self.config.edges);
            let Some(mut win) = cut_window_resampled(image, y as f64, x as f64, self.w, self.step, centring, edges)
            else {
                continue;
            };
            if win.iter().any(|v| !v.is_finite()) {
                return Err(SubimageError::BadInput(format!(
                    "NaN or infinite pixels around atom {index} of frame {frame}"
                )));
            }
            normalise(&mut win, self.config.normalization);
            self.out.extend(win.iter());
            let wins = &mut self.windows;
            wins.atom_index.push(index);
            wins.frame.push(frame);
            wins.y.push(y);
            wins.x.push(x);
            wins.class.push(class);
        }
        Ok(())
    }

    /// Hands over the pixels of the windows cut so far (their rows stay in the
    /// cutter): lets a caller stream the stack to disk frame by frame.
    pub fn take_pixels(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.out)
    }

    /// The windows cut since the last [`WindowCutter::take_pixels`] (all of them
    /// when it was never called) with every window's row.
    pub fn finish(self) -> Windows {
        let n = self.out.len() / (self.w * self.w);
        Windows { data: Array3::from_shape_vec((n, self.w, self.w), self.out).expect("whole windows"), ..self.windows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_centred_on_the_atom_and_edges_follow_the_policy() {
        let img = Array2::from_shape_fn((40, 50), |(r, c)| (r * 100 + c) as f32);
        let w = cut_window(img.view(), 20.0, 25.0, 9, Centring::Round, EdgePolicy::Skip).unwrap();
        assert_eq!(w[[4, 4]], img[[20, 25]], "the centre pixel is the atom's");
        let even = cut_window(img.view(), 20.0, 25.0, 8, Centring::Bilinear, EdgePolicy::Skip).unwrap();
        // For an even window the atom sits between the two middle pixels.
        assert!((0.25 * (even[[3, 3]] + even[[3, 4]] + even[[4, 3]] + even[[4, 4]]) - img[[20, 25]]).abs() < 1e-3);
        assert!(cut_window(img.view(), 2.0, 25.0, 9, Centring::Round, EdgePolicy::Skip).is_none());
        let padded = cut_window(img.view(), 2.0, 25.0, 9, Centring::Round, EdgePolicy::Pad).unwrap();
        assert_eq!(padded[[0, 4]], 0.0);
        assert_eq!(padded[[6, 4]], img[[4, 25]]);
        let sub = cut_window(img.view(), 20.5, 25.25, 9, Centring::Bilinear, EdgePolicy::Skip).unwrap();
        assert!((sub[[4, 4]] - (20.5 * 100.0 + 25.25)).abs() < 1e-3, "{}", sub[[4, 4]]);
    }

    #[test]
    fn sizes_in_angstrom_mean_the_same_physics_at_any_pixel_size() {
        let cfg = WindowConfig::default();
        assert_eq!(cfg.size_at(0.1).unwrap(), 40);
        assert_eq!(cfg.size_at(0.2).unwrap(), 20);
        assert!(cfg.size_at(0.01).unwrap_err().to_string().contains("outside 8–128"));
        let px = WindowConfig { size_px: Some(32), ..WindowConfig::default() };
        assert_eq!(px.size_at(0.07).unwrap(), 32);
        // A coarser sampling sets the pitch; frames coarser than it keep their own.
        let coarse = WindowConfig { size_angstrom: 6.0, sampling_angstrom: Some(0.2), ..WindowConfig::default() };
        assert_eq!(coarse.size_at(0.104).unwrap(), 30);
        assert_eq!(coarse.size_at(0.3).unwrap(), 20);
        let bad = WindowConfig { sampling_angstrom: Some(-1.0), ..WindowConfig::default() };
        assert!(bad.size_at(0.1).is_err());
    }

    #[test]
    fn resampled_windows_average_the_footprint_around_the_centre() {
        // A linear ramp: a box mean equals the ramp at the footprint's centre.
        let img = Array2::from_shape_fn((60, 60), |(r, c)| (3 * r + c) as f32);
        let at = |r: f64, c: f64| (3.0 * r + c) as f32;
        let win = cut_window_resampled(img.view(), 30.3, 29.6, 8, 2.0, Centring::Bilinear, EdgePolicy::Skip).unwrap();
        // Window pixel (i, j) covers frame rows y − 8 + 2i … y − 6 + 2i: its centre is y − 7 + 2i.
        for (i, j) in [(0, 0), (3, 5), (7, 7)] {
            let want = at(30.3 - 7.0 + 2.0 * i as f64, 29.6 - 7.0 + 2.0 * j as f64);
            assert!((win[[i, j]] - want).abs() < 1e-3, "({i}, {j}): {} vs {want}", win[[i, j]]);
        }
        // A single bright pixel is spread over one window pixel, its sum kept.
        let mut dot = Array2::<f32>::zeros((60, 60));
        dot[[30, 30]] = 1.0;
        let win = cut_window_resampled(dot.view(), 30.5, 30.5, 8, 2.0, Centring::Bilinear, EdgePolicy::Skip).unwrap();
        assert!((win.sum() * 4.0 - 1.0).abs() < 1e-4, "{}", win.sum());
        assert!(cut_window_resampled(img.view(), 7.0, 30.0, 8, 2.0, Centring::Bilinear, EdgePolicy::Skip).is_none());
        assert!(cut_window_resampled(img.view(), 7.0, 30.0, 8, 2.0, Centring::Bilinear, EdgePolicy::Pad).is_some());
    }
}
