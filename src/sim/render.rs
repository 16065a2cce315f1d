//! Image formation: incoherent HAADF-STEM imaging as a sum of Gaussian probe
//! profiles weighted by Z^γ (γ ≈ 1.7, the Z-contrast law), scan distortion,
//! then Poisson shot noise at the given dose and Gaussian read noise. Also the
//! ground truth the segmentation network learns from: atom table, label masks
//! and per-class probability targets.

use ndarray::{Array2, Array3};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

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
    /// Grain of the specimen (0 for a single crystal).
    pub grain: u8,
    /// Honeycomb sublattice within its grain (0 = A, 1 = B).
    pub sublattice: u8,
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
    // exp(−(d−s)²/2σ²) = exp(−d²/2σ²) · exp(s·d/σ²) · exp(−s²/2σ²): a shifted profile is
    // the unshifted one times a geometric progression in d, so rows cost multiplies.
    let base: Vec<f64> = (c0..=c1)
        .map(|c| {
            let d = c as f64 - x;
            (d * d * inv).exp()
        })
        .collect();
    let mut gx = vec![0f32; base.len()];
    let mut last_shift = f64::NAN;
    for (r, &shift) in row_shift.iter().enumerate().take(r1 + 1).skip(r0) {
        let dy = r as f64 - y;
        let gy = weight * (dy * dy * inv).exp();
        if shift != last_shift {
            let d0 = c0 as f64 - x;
            let mut factor = (-2.0 * inv * shift * d0 + shift * shift * inv).exp();
            let step = (-2.0 * inv * shift).exp();
            for (g, b) in gx.iter_mut().zip(&base) {
                *g = (b * factor) as f32;
                factor *= step;
            }
            last_shift = shift;
        }
        let gy = gy as f32;
        let mut row = img.row_mut(r);
        for (px, g) in row.slice_mut(ndarray::s![c0..=c1]).iter_mut().zip(&gx) {
            *px += gy * g;
        }
    }
}

/// `img` blurred by a Gaussian of `sigma` px (separable; edges clamped).
pub fn gaussian_blur(img: &Array2<f32>, sigma: f64) -> Array2<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let norm: f32 = kernel.iter().sum();
    let (h, w) = img.dim();
    let pass = |src: &Array2<f32>, along_rows: bool| {
        Array2::from_shape_fn((h, w), |(r, c)| {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let d = k as isize - radius;
                let (rr, cc) = if along_rows { (r as isize, c as isize + d) } else { (r as isize + d, c as isize) };
                acc += kv * src[[rr.clamp(0, h as isize - 1) as usize, cc.clamp(0, w as isize - 1) as usize]];
            }
            acc / norm
        })
    };
    pass(&pass(img, true), false)
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
                    grain: atom.grain,
                    sublattice: atom.sublattice,
                });
            }
        }
    }
    for &p in &sample.amorphous {
        let [y, x] = sample.to_pixels(p, params);
        splat(&mut clean, y, x, params.contamination_weight, sigma_px, &offsets);
    }
    if params.probe_tail > 0.0 {
        // Probe = (1 − t)·G(σ) + t·G(σ_tail): the tail is the image blurred further
        // (a Gaussian of a Gaussian is a Gaussian), so its cost does not grow with σ_tail.
        let extra = (params.probe_tail_sigma.powi(2) - params.probe_sigma.powi(2)).sqrt() / params.pixel_size;
        let floor = params.background as f32;
        let atoms_only = clean.mapv(|v| v - floor);
        let tail = gaussian_blur(&atoms_only, extra);
        let t = params.probe_tail as f32;
        clean.zip_mut_with(&tail, |v, &w| *v = floor + (1.0 - t) * (*v - floor) + t * w);
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
            let counts = poisson(dose * v.max(0.0) as f64, rng);
            (counts / dose) as f32
        });
    }
    if params.read_noise > 0.0 {
        let n = Normal::new(0.0f32, params.read_noise as f32).expect("validated");
        image.mapv_inplace(|v| v + n.sample(rng));
    }
    image
}

/// Largest mean drawn exactly by inversion in one piece; e^(−30) is still far above
/// the smallest f64.
const POISSON_PIECE: f64 = 30.0;
/// Above this mean the normal approximation (skewness 1/√λ < 0.016) is used.
const POISSON_NORMAL: f64 = 4000.0;

/// A Poisson variate of mean `lambda`: sequential inversion (one uniform draw per
/// piece, λ ≤ 30 per piece, summed over pieces), normal approximation beyond 4000.
/// ~10× faster than a general-purpose rejection sampler at the doses of STEM.
fn poisson(lambda: f64, rng: &mut ChaCha8Rng) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda > POISSON_NORMAL {
        let z: f64 = rng.sample(rand_distr::StandardNormal);
        return (lambda + z * lambda.sqrt()).round().max(0.0);
    }
    let pieces = (lambda / POISSON_PIECE).ceil();
    let mean = lambda / pieces;
    let p0 = (-mean).exp();
    let mut total = 0.0;
    for _ in 0..pieces as usize {
        let u: f64 = rng.gen();
        let (mut k, mut p, mut cdf) = (0.0, p0, p0);
        while u > cdf && p > 0.0 {
            k += 1.0;
            p *= mean / k;
            cdf += p;
        }
        total += k;
    }
    total
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn poisson_draws_have_the_right_mean_and_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for lambda in [0.3, 4.0, 29.9, 75.0, 250.0, 6000.0] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| poisson(lambda, &mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            // Standard errors: √(λ/n) for the mean, ≈ λ·√(2/n) for the variance.
            assert!((mean - lambda).abs() < 5.0 * (lambda / n as f64).sqrt(), "λ={lambda}: mean {mean}");
            assert!((var - lambda).abs() < 5.0 * lambda * (2.0 / n as f64).sqrt() + 0.01, "λ={lambda}: var {var}");
            assert!(draws.iter().all(|d| *d >= 0.0 && d.fract() == 0.0));
        }
        assert_eq!(poisson(0.0, &mut rng), 0.0);
    }

    #[test]
    fn a_shifted_splat_equals_a_directly_computed_gaussian() {
        let mut img = Array2::<f32>::zeros((32, 32));
        let shifts: Vec<f64> = (0..32).map(|r| 0.3 * (r as f64 / 7.0).sin()).collect();
        splat(&mut img, 15.3, 16.7, 2.0, 3.0, &shifts);
        for r in 0..32 {
            for c in 0..32 {
                let (dy, dx) = (r as f64 - 15.3, c as f64 - 16.7 - shifts[r]);
                let inside = dy.abs() <= 12.0 && (c as f64 - 16.7).abs() <= 14.0;
                let want = if inside { 2.0 * (-(dy * dy + dx * dx) / 18.0).exp() } else { 0.0 };
                assert!((img[[r, c]] as f64 - want).abs() < 1e-5, "({r},{c}): {} vs {want}", img[[r, c]]);
            }
        }
    }
}
