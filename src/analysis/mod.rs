//! `analysis` — step 5 of the paper (Kalinin et al. 2021, Figs. 5–7 and S1): the
//! latents read as order parameters. Each latent is painted back onto its atoms
//! frame by frame (Fig. 6) and histogrammed per frame (Fig. 7); the rVAE's decoder
//! is sampled on a grid of its content latents (Fig. 5C/F); Gaussian mixtures
//! cluster the latent points and, as the paper's baseline, the raw windows
//! (Fig. 5A/D); a convolutional autoencoder and a plain VAE are trained on the same
//! windows (Fig. 5B/E); and SSIM compares the building blocks each method finds
//! (Fig. S1). On simulated movies, `order` scores the latents against the truth.

pub mod baselines;
pub mod gmm;
pub mod maps;
pub mod order;
pub mod ssim;

use ndarray::{s, Array2, Array3, Array4, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::progress::Progress;
use crate::rvae::{train_rvae_tensor, Rvae, RvaeConfig, RvaeTrainConfig};
pub use baselines::{train_conv_ae, ConvAeConfig, ConvAutoencoder};
pub use gmm::{fit_gmm, select_by_bic, Gmm, GmmConfig};

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("bad input: {0}")]
    BadInput(String),
    #[error(transparent)]
    Rvae(#[from] crate::rvae::RvaeError),
    #[error("cancelled")]
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Bins of the per-frame latent histograms.
    pub bins: usize,
    /// Radius of each atom's disc in the latent maps (Å).
    pub map_radius_angstrom: f64,
    /// Two atoms closer than this are bonded (Å); graphene's bond is 1.42 Å.
    pub bond_cutoff_angstrom: f64,
    /// Decoded windows per side of each manifold.
    pub manifold_size: usize,
    /// Mixtures of 1 … this many components are compared by BIC.
    pub gmm_max_components: usize,
    pub gmm: GmmConfig,
    /// Windows (at most) the baselines and the window GMM are fitted to.
    pub baseline_windows: usize,
    /// The window GMM fits windows averaged down to at most this edge (px); its
    /// component images are then the responsibility-weighted full windows.
    pub gmm_fit_px: usize,
    pub baseline_epochs: usize,
    pub baseline_learning_rate: f64,
    /// Building blocks per side compared by SSIM, and the turns tried.
    pub ssim_grid: usize,
    pub ssim_rotations: usize,
    pub seed: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            bins: 60,
            map_radius_angstrom: 0.6,
            bond_cutoff_angstrom: 1.8,
            manifold_size: 8,
            gmm_max_components: 6,
            gmm: GmmConfig::default(),
            baseline_windows: 5000,
            gmm_fit_px: 12,
            baseline_epochs: 20,
            baseline_learning_rate: 1e-3,
            ssim_grid: 4,
            ssim_rotations: 36,
            seed: 0,
        }
    }
}

/// What the analysis reads: every window's latents and place.
pub struct LatentTable<'a> {
    /// (windows, columns) posterior means, columns named by `names`.
    pub means: ArrayView2<'a, f32>,
    pub names: &'a [String],
    pub frame: &'a [u32],
    pub y: &'a [f32],
    pub x: &'a [f32],
    /// Frames × height × width of the movie.
    pub frames: [usize; 3],
    pub pixel_size: f64,
}

/// A GMM with the BIC of every k tried.
#[derive(Debug, Clone)]
pub struct GmmSelection {
    pub ks: Vec<usize>,
    pub bic: Vec<f64>,
    pub best: Gmm,
}

/// A method's building blocks compared pairwise by SSIM.
#[derive(Debug, Clone)]
pub struct SsimComparison {
    pub method: String,
    pub plain: Array2<f64>,
    /// Best SSIM over turns of the second block.
    pub rotated: Array2<f64>,
}

impl SsimComparison {
    fn off_diagonal_mean(m: &Array2<f64>) -> f64 {
        let n = m.nrows();
        let (mut sum, mut count) = (0.0, 0);
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    sum += m[[i, j]];
                    count += 1;
                }
            }
        }
        if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        }
    }

    pub fn mean_plain(&self) -> f64 {
        Self::off_diagonal_mean(&self.plain)
    }

    pub fn mean_rotated(&self) -> f64 {
        Self::off_diagonal_mean(&self.rotated)
    }
}

/// Everything step 5 computes (stored under `/analysis`, drawn by `report`).
pub struct LatentAnalysis {
    pub names: Vec<String>,
    pub histogram_edges: Vec<Vec<f64>>,
    /// Per latent: frames × bins.
    pub histograms: Vec<Array2<u32>>,
    pub map_frames: Vec<u32>,
    /// Per latent: (map frames, height, width), NaN away from atoms.
    pub maps: Vec<Array3<f32>>,
    /// Bonded neighbours of every window's atom.
    pub coordination: Vec<u8>,
    pub rvae_manifold: Array4<f32>,
    pub rvae_axis: Vec<f32>,
    /// Mixture over the content latents, with every window's component.
    pub latent_gmm: GmmSelection,
    pub latent_labels: Vec<i64>,
    pub window_gmm: GmmSelection,
    /// (k, w, w) mean windows of the window GMM's components.
    pub window_components: Array3<f32>,
    pub conv_ae_curve: Vec<f64>,
    pub conv_ae_manifold: Array4<f32>,
    pub conv_ae_range: [(f32, f32); 2],
    pub conv_ae: ConvAutoencoder,
    /// Per epoch: (−ELBO, reconstruction term).
    pub vae_curve: Vec<(f64, f64)>,
    pub vae_manifold: Array4<f32>,
    pub vae: Rvae,
    pub ssim: Vec<SsimComparison>,
    /// Indices (into the window table) of the windows the baselines saw.
    pub sample: Vec<usize>,
}

/// Indices of at most `n` of `total` windows, evenly spread over the movie.
pub fn spread_sample(total: usize, n: usize) -> Vec<usize> {
    if total <= n {
        return (0..total).collect();
    }
    (0..n).map(|i| i * total / n).collect()
}

fn content_columns(names: &[String]) -> Vec<usize> {
    names.iter().enumerate().filter(|(_, n)| n.starts_with('z')).map(|(i, _)| i).collect()
}

/// Frames shown in the maps: first, middle and last (fewer for short movies).
pub fn map_frames(n_frames: usize) -> Vec<u32> {
    let mut f = vec![0, (n_frames / 2) as u32, n_frames.saturating_sub(1) as u32];
    f.dedup();
    f
}

fn check_table(t: &LatentTable) -> Result<(), AnalysisError> {
    let n = t.means.nrows();
    if n == 0 {
        return Err(AnalysisError::BadInput("no latents to analyse".into()));
    }
    if t.frame.len() != n || t.y.len() != n || t.x.len() != n || t.names.len() != t.means.ncols() {
        return Err(AnalysisError::BadInput(format!(
            "{n} latent rows but {} frames, {} y, {} x, {} names for {} columns",
            t.frame.len(),
            t.y.len(),
            t.x.len(),
            t.names.len(),
            t.means.ncols()
        )));
    }
    if t.means.iter().any(|v| !v.is_finite()) {
        return Err(AnalysisError::BadInput("latents with NaN or infinite values".into()));
    }
    Ok(())
}

/// Runs every analysis. `sample_windows` are the (m, w·w) windows listed by
/// `sample` (see [`spread_sample`]); `rvae` is the trained model.
pub fn analyse(
    table: &LatentTable,
    sample: Vec<usize>,
    sample_windows: &Tensor,
    rvae: &Rvae,
    config: &AnalysisConfig,
    progress: &mut dyn Progress,
) -> Result<LatentAnalysis, AnalysisError> {
    check_table(table)?;
    let n = table.means.nrows();
    let w = rvae.config().window;
    if sample_windows.size() != [sample.len() as i64, (w * w) as i64] {
        return Err(AnalysisError::BadInput(format!(
            "{} sampled windows of {w}×{w} px expected, got {:?}",
            sample.len(),
            sample_windows.size()
        )));
    }
    progress.start("latent analysis", 6);
    // Dynamics and maps (Figs. 6, 7).
    let mut histogram_edges = Vec::new();
    let mut histograms = Vec::new();
    let column = |c: usize| table.means.column(c).to_vec();
    for c in 0..table.names.len() {
        let values = column(c);
        let edges = maps::histogram_edges(&values, config.bins, 0.99)?;
        histograms.push(maps::histograms_per_frame(&values, table.frame, table.frames[0], &edges));
        histogram_edges.push(edges);
    }
    let frames_shown = map_frames(table.frames[0]);
    let radius = config.map_radius_angstrom / table.pixel_size;
    let mut latent_maps = Vec::new();
    for c in 0..table.names.len() {
        let values = column(c);
        let mut stack = Array3::from_elem((frames_shown.len(), table.frames[1], table.frames[2]), f32::NAN);
        for (k, &f) in frames_shown.iter().enumerate() {
            let rows: Vec<usize> = (0..n).filter(|&i| table.frame[i] == f).collect();
            let pick = |v: &[f32]| rows.iter().map(|&i| v[i]).collect::<Vec<f32>>();
            let image = maps::back_projection(
                (table.frames[1], table.frames[2]),
                &pick(table.y),
                &pick(table.x),
                &pick(&values),
                radius,
            )?;
            stack.slice_mut(s![k, .., ..]).assign(&image);
        }
        latent_maps.push(stack);
    }
    let coordination =
        maps::coordination(table.y, table.x, table.frame, config.bond_cutoff_angstrom / table.pixel_size);
    progress.advance(1);

    // The rVAE's manifold and the mixture over its content latents (Fig. 5C/F).
    let (rvae_manifold, rvae_axis) = rvae.manifold(config.manifold_size)?;
    let content = content_columns(table.names);
    if content.is_empty() {
        return Err(AnalysisError::BadInput(format!("no content latents among {:?}", table.names)));
    }
    let z: Vec<f32> =
        (0..n).flat_map(|i| content.iter().map(move |&c| (i, c))).map(|(i, c)| table.means[[i, c]]).collect();
    let z = Tensor::from_slice(&z).view([n as i64, content.len() as i64]);
    let ks: Vec<usize> = (1..=config.gmm_max_components.max(1)).collect();
    let latent_gmm = selection(&z, &ks, &config.gmm)?;
    let latent_labels = latent_gmm.best.predict(&z);
    progress.advance(1);
    if progress.cancelled() {
        return Err(AnalysisError::Cancelled);
    }

    // The paper's GMM baseline on raw windows (Fig. 5A/D).
    let x = sample_windows.to_kind(Kind::Float);
    let fit_px = config.gmm_fit_px.clamp(2, w) as i64;
    let small = x.view([-1, 1, w as i64, w as i64]).adaptive_avg_pool2d([fit_px, fit_px]).view([-1, fit_px * fit_px]);
    let window_ks: Vec<usize> = (1..=config.gmm_max_components.max(1)).filter(|&k| k <= sample.len()).collect();
    let window_gmm = selection(
        &small,
        &window_ks,
        &GmmConfig { covariance_floor: config.gmm.covariance_floor.max(1e-4), ..config.gmm.clone() },
    )?;
    let resp = window_gmm.best.responsibilities(&small).to_kind(Kind::Float);
    let component_means =
        resp.transpose(0, 1).matmul(&x) / resp.sum_dim_intlist(0, false, Kind::Float).unsqueeze(1).clamp_min(1e-12);
    let window_components = to_array3(&component_means, w);
    progress.advance(1);
    if progress.cancelled() {
        return Err(AnalysisError::Cancelled);
    }

    // Baselines trained on the same windows (Fig. 5B/E).
    let device = rvae.device();
    let xd = x.to_device(device);
    let mut conv_ae = ConvAutoencoder::new(
        ConvAeConfig {
            window: w,
            epochs: config.baseline_epochs,
            learning_rate: config.baseline_learning_rate,
            seed: config.seed,
            ..ConvAeConfig::default()
        },
        device,
    )?;
    let conv_ae_curve = train_conv_ae(&mut conv_ae, &xd, &mut crate::progress::Silent)?;
    let codes = baselines::encode_all(&conv_ae, &xd);
    let conv_ae_range = [percentile_range(codes.column(0).to_vec()), percentile_range(codes.column(1).to_vec())];
    let conv_ae_manifold = conv_ae.manifold(config.manifold_size, conv_ae_range);
    progress.advance(1);
    if progress.cancelled() {
        return Err(AnalysisError::Cancelled);
    }
    let vae_config =
        RvaeConfig { window: w, rotation: false, translation: false, training: None, ..rvae.config().clone() };
    let mut vae = Rvae::new_seeded(vae_config, device, config.seed)?;
    let vae_report = train_rvae_tensor(
        &mut vae,
        xd.shallow_clone(),
        &RvaeTrainConfig {
            epochs: config.baseline_epochs,
            learning_rate: config.baseline_learning_rate,
            holdout_fraction: 0.0,
            seed: config.seed,
            ..RvaeTrainConfig::default()
        },
        &mut crate::progress::Silent,
    )?;
    let vae_curve = vae_report.epochs.iter().map(|e| (e.train.neg_elbo, e.train.reconstruction)).collect();
    let (vae_manifold, _) = vae.manifold(config.manifold_size)?;
    progress.advance(1);
    if progress.cancelled() {
        return Err(AnalysisError::Cancelled);
    }

    // Fig. S1: are the building blocks different structures or one structure turned?
    let g = config.ssim_grid.max(2);
    let picks: Vec<usize> = (0..g).map(|i| i * (config.manifold_size - 1) / (g - 1)).collect();
    let grid_blocks = |m: &Array4<f32>| -> Vec<Array2<f32>> {
        picks
            .iter()
            .flat_map(|&r| picks.iter().map(move |&c| (r, c)))
            .map(|(r, c)| m.slice(s![r, c, .., ..]).to_owned())
            .collect()
    };
    let gmm_blocks: Vec<Array2<f32>> = window_components.outer_iter().map(|v| v.to_owned()).collect();
    let mut ssim = Vec::new();
    for (method, blocks) in [
        ("GMM", gmm_blocks),
        ("conv AE", grid_blocks(&conv_ae_manifold)),
        ("VAE", grid_blocks(&vae_manifold)),
        ("rVAE", grid_blocks(&rvae_manifold)),
    ] {
        ssim.push(compare_blocks(method, &blocks, config.ssim_rotations)?);
    }
    progress.advance(1);
    progress.finish();
    Ok(LatentAnalysis {
        names: table.names.to_vec(),
        histogram_edges,
        histograms,
        map_frames: frames_shown,
        maps: latent_maps,
        coordination,
        rvae_manifold,
        rvae_axis,
        latent_gmm,
        latent_labels,
        window_gmm,
        window_components,
        conv_ae_curve,
        conv_ae_manifold,
        conv_ae_range,
        conv_ae,
        vae_curve,
        vae_manifold,
        vae,
        ssim,
        sample,
    })
}

fn selection(x: &Tensor, ks: &[usize], config: &GmmConfig) -> Result<GmmSelection, AnalysisError> {
    let (fits, best) = select_by_bic(x, ks, config)?;
    Ok(GmmSelection {
        ks: fits.iter().map(|(g, _)| g.components()).collect(),
        bic: fits.iter().map(|(_, b)| *b).collect(),
        best: fits[best].0.clone(),
    })
}

/// 5th–95th percentile of `v` (a little wider when they coincide).
fn percentile_range(mut v: Vec<f32>) -> (f32, f32) {
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.05), at(0.95));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    }
}

fn to_array3(t: &Tensor, w: usize) -> Array3<f32> {
    let t = t.to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
    let k = t.size()[0] as usize;
    Array3::from_shape_vec((k, w, w), Vec::<f32>::try_from(t.flatten(0, -1)).expect("f32")).expect("shape")
}

/// Pairwise SSIM of `blocks` (data range: their common span).
pub fn compare_blocks(method: &str, blocks: &[Array2<f32>], rotations: usize) -> Result<SsimComparison, AnalysisError> {
    let lo = blocks.iter().flat_map(|b| b.iter()).fold(f32::INFINITY, |a, &b| a.min(b));
    let hi = blocks.iter().flat_map(|b| b.iter()).fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let range = f64::from(hi - lo).max(1e-6);
    let k = blocks.len();
    let mut plain = Array2::from_elem((k, k), 1.0);
    let mut rotated = Array2::from_elem((k, k), 1.0);
    for i in 0..k {
        for j in 0..k {
            if i != j {
                let (p, r) = ssim::ssim_plain_and_rotated(blocks[i].view(), blocks[j].view(), range, rotations)?;
                plain[[i, j]] = p;
                rotated[[i, j]] = r;
            }
        }
    }
    Ok(SsimComparison { method: method.into(), plain, rotated })
}
