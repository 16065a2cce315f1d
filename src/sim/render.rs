//! Image formation: incoherent HAADF-STEM imaging as a sum of Gaussian probe
//! profiles weighted by Z^γ (γ ≈ 1.7, the Z-contrast law), scan distortion,
//! then Poisson shot noise at the given dose and Gaussian read noise. Also the
//! ground truth the segmentation network learns from: atom table, label masks
//! and per-class probability targets.

use ndarray::{Array2, Array3};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};

use super::params::SimParams;
use super::sample::{Sample, Z_CARBON, Z_SILICON};

/// Class indices of the label masks; class 0 is background.
pub const CLASS_BACKGROUND: u8 = 0;
pub const CLASS_CARBON: u8 = 1;
pub const CLASS_SILICON: u8 = 2;
pub const CLASS_NAMES: [&str; 3] = ["background", "C", "Si"];

/// One atom as it appears in a frame: the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TruthAtom {
    pub frame: u32,
    /// Row (px), (0, 0) = centre of the top-left pixel.
    pub y: f32,
    /// Column (px).
    pub x: f32,
    /// Class index: 1 = C, 2 = Si.
    pub class: u8,
    /// Atomic number.
    pub z: u8,
}

/// A simulated frame and its ground truth.
#[derive(Debug, Clone)]
pub struct SimFrame {
    pub index: usize,
    /// The noisy image (what a detector records), in units of the C peak.
    pub image: Array2<f32>,
    /// The same before noise.
    pub clean: Array2<f32>,
    /// Class of each pixel (0 background, 1 C, 2 Si).
    pub labels: Array2<u8>,
    pub atoms: Vec<TruthAtom>,
}

/// Peak intensity of an isolated atom of atomic number `z`, relative to carbon.
pub fn z_weight(z: u8, exponent: f64) -> f64 {
    (z as f64 / Z_CARBON as f64).powf(exponent)
}

fn class_of(z: u8) -> u8 {
    if z == Z_SILICON {
        CLASS_SILICON
    } else {
        CLASS_CARBON
    }
}

/// Adds `weight`·exp(−r²/2σ²) around (y, x), with each row shifted horizontally by
/// `row_shift[row]` px (scan distortion). Everything is in pixels.
fn splat(img: &mut Array2<f32>, y: f64, x: f64, weight: f64, sigma: f64, row_shift: &[f64]) {
    let (h, w) = img.dim();
    let reach = (4.0 * sigma).ceil();
    let inv = -0.5 / (sigma * sigma);
    let r0 = (y - reach).ceil().max(0.0) as usize;
    let r1 = (y + reach).floor().min(h as f64 - 1.0);
    if r1 < 0.0 || r0 >= h {
        return;
    }
    let x_lo = x - reach - 2.0;
    let c0 = x_lo.ceil().max(0.0) as usize;
    let c1 = (x + reach + 2.0).floor().min(w as f64 - 1.0);
    if c1 < 0.0 || c0 >= w {
        return;
    }
    let (r1, c1) = (r1 as usize, c1 as usize);
    let uniform = row_shift.iter().all(|&s| s == 0.0);
    let profile = |shift: f64, buf: &mut Vec<f32>| {
        buf.clear();
        buf.extend((c0..=c1).map(|c| {
            let d = c as f64 - x - shift;
            (d * d * inv).exp() as f32
        }));
    };
    let mut gx = Vec::with_capacity(c1 + 1 - c0);
    if uniform {
        profile(0.0, &mut gx);
    }
    for (r, &shift) in row_shift.iter().enumerate().take(r1 + 1).skip(r0) {
        let dy = r as f64 - y;
        let gy = (weight * (dy * dy * inv).exp()) as f32;
        if !uniform {
            profile(shift, &mut gx);
        }
        let mut row = img.row_mut(r);
        for (px, g) in row.slice_mut(ndarray::s![c0..=c1]).iter_mut().zip(&gx) {
            *px += gy * g;
        }
    }
}

/// Horizontal offset of every scan line: random line jitter plus a linear drift.
fn scan_offsets(params: &SimParams, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let jitter = (params.line_jitter > 0.0).then(|| Normal::new(0.0, params.line_jitter).expect("validated"));
    (0..params.height)
        .map(|r| {
            let j = jitter.as_ref().map_or(0.0, |n| n.sample(rng));
            j + params.drift * r as f64 / params.height as f64
        })
        .collect()
}

/// Images the specimen once: renders, distorts, adds noise, records the truth.
/// `rng` supplies the scan jitter and the noise only; the specimen is untouched.
pub fn image_sample(sample: &Sample, params: &SimParams, index: usize, rng: &mut ChaCha8Rng) -> SimFrame {
    let (h, w) = (params.height, params.width);
    let sigma_px = params.probe_sigma / params.pixel_size;
    let offsets = scan_offsets(params, rng);
    let mut clean = Array2::<f32>::from_elem((h, w), params.background as f32);
    let mut atoms = Vec::new();
    for atom in &sample.atoms {
        let [y, x] = sample.to_pixels(atom.pos, params);
        splat(&mut clean, y, x, z_weight(atom.z, params.z_exponent), sigma_px, &offsets);
        let in_frame = y >= -0.5 && y < h as f64 - 0.5 && x >= -0.5 && x < w as f64 - 0.5;
        if in_frame {
            let seen_x = x + offsets[(y.round() as usize).min(h - 1)];
            if seen_x >= -0.5 && seen_x < w as f64 - 0.5 {
                atoms.push(TruthAtom {
                    frame: index as u32,
                    y: y as f32,
                    x: seen_x as f32,
                    class: class_of(atom.z),
                    z: atom.z,
                });
            }
        }
    }
    for &p in &sample.amorphous {
        let [y, x] = sample.to_pixels(p, params);
        splat(&mut clean, y, x, 1.0, sigma_px, &offsets);
    }
    let labels = label_mask(&atoms, params);
    let image = add_noise(&clean, params, rng);
    SimFrame { index, image, clean, labels, atoms }
}

/// Poisson shot noise at `dose` counts per C peak, then Gaussian read noise.
fn add_noise(clean: &Array2<f32>, params: &SimParams, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let mut image = clean.clone();
    if params.dose > 0.0 {
        let dose = params.dose;
        image.mapv_inplace(|v| {
            let lambda = dose * v.max(0.0) as f64;
            let counts = if lambda > 0.0 { Poisson::new(lambda).map_or(lambda, |p| p.sample(rng)) } else { 0.0 };
            (counts / dose) as f32
        });
    }
    if params.read_noise > 0.0 {
        let n = Normal::new(0.0f32, params.read_noise as f32).expect("validated");
        image.mapv_inplace(|v| v + n.sample(rng));
    }
    image
}

/// Disks of radius `label_radius` around each atom, filled with its class.
/// Si is drawn last so that it wins where disks touch.
pub fn label_mask(atoms: &[TruthAtom], params: &SimParams) -> Array2<u8> {
    let (h, w) = (params.height, params.width);
    let mut labels = Array2::<u8>::from_elem((h, w), CLASS_BACKGROUND);
    let r = params.label_radius / params.pixel_size;
    for pass in [CLASS_CARBON, CLASS_SILICON] {
        for a in atoms.iter().filter(|a| a.class == pass) {
            for_each_pixel_near(a.y as f64, a.x as f64, r, h, w, |row, col, _| labels[[row, col]] = pass);
        }
    }
    labels
}

fn for_each_pixel_near(y: f64, x: f64, r: f64, h: usize, w: usize, mut f: impl FnMut(usize, usize, f64)) {
    // Empty ranges when the disk lies wholly outside the frame.
    let r0 = (y - r).ceil().max(0.0) as isize;
    let r1 = (y + r).floor().min(h as f64 - 1.0) as isize;
    let c0 = (x - r).ceil().max(0.0) as isize;
    let c1 = (x + r).floor().min(w as f64 - 1.0) as isize;
    for row in r0..=r1 {
        for col in c0..=c1 {
            let d2 = (row as f64 - y).powi(2) + (col as f64 - x).powi(2);
            if d2 <= r * r {
                f(row as usize, col as usize, d2);
            }
        }
    }
}

/// Soft per-class targets (classes × H × W) that sum to one at every pixel: a
/// Gaussian bump per atom that crosses 0.5 at the label radius, background the rest.
pub fn probability_targets(atoms: &[TruthAtom], params: &SimParams) -> Array3<f32> {
    let (h, w) = (params.height, params.width);
    let mut p = Array3::<f32>::zeros((CLASS_NAMES.len(), h, w));
    let r = params.label_radius / params.pixel_size;
    let sigma2 = r * r / (2.0 * std::f64::consts::LN_2);
    for a in atoms {
        let class = a.class as usize;
        for_each_pixel_near(a.y as f64, a.x as f64, 3.0 * r, h, w, |row, col, d2| {
            let v = (-d2 / (2.0 * sigma2)).exp() as f32;
            let cell = &mut p[[class, row, col]];
            *cell = cell.max(v);
        });
    }
    for row in 0..h {
        for col in 0..w {
            let atoms_sum = (1..CLASS_NAMES.len()).map(|c| p[[c, row, col]]).sum::<f32>();
            if atoms_sum > 1.0 {
                for c in 1..CLASS_NAMES.len() {
                    p[[c, row, col]] /= atoms_sum;
                }
            }
            p[[0, row, col]] = (1.0 - atoms_sum).max(0.0);
        }
    }
    p
}

/// Draws an independent stream of randomness for frame `index` of a run seeded `seed`.
pub fn frame_rng(seed: u64, index: usize) -> ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1 + index as u64);
    rng
}
