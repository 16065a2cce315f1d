//! `rvae` — step 4 of the paper (Kalinin et al. 2021, Methods "rVAE"; after Bepler
//! et al. 2019, spatial-VAE): every window is encoded into a rotation angle γ, a
//! translation (dx, dy) and k content latents z; the decoder renders the window
//! from its coordinate grid turned by γ and shifted by (dx, dy). The loss is the
//! negative ELBO with AtomAI's scaling (so values compare with the authors'):
//!
//!   −ELBO = ½ Σ_pixels (x̂ − x)²                                   (reconstruction)
//!         + Σ_{dx,dy,z} (−log σ + ½σ² + ½μ² − ½)                    (KL to N(0, 1))
//!         + (−log σ_γ + log s_γ + σ_γ²/(2 s_γ²) − ½)                (rotation, spread only)
//!
//! averaged over windows. The rotation term penalises only the spread of q(γ|x),
//! never its mean, so γ is free to take any value.

mod config;
mod inference;
mod loss;
mod model;
mod precision;
mod train;

pub use config::{EncoderKind, RvaeConfig, TrainingFlops};
pub use inference::Latents;
pub use loss::{gaussian_kl, rotation_kl, ElboTerms};
pub use precision::{cpu_has_native_bf16, cpu_probe as precision_probe, Precision, ProbeResult};

pub use model::{coordinate_grid, transform_grid, Decoder, Dense, Encoder, InferenceWeights};
pub use train::{
    auto_micro_batch, train_rvae, train_rvae_rows, train_rvae_tensor, EpochRecord, RvaeTrainConfig, RvaeTrainReport,
    WindowRows, RECENT_EPOCHS, ROWS_PER_UNIT,
};

use ndarray::ArrayView3;

use tch::{nn, Kind, Tensor};

use crate::store::StoredModel;

pub const MODEL_KIND: &str = "rvae";

/// Directions tried (one per degree) when turning z1 toward the most one-sided
/// departure from the bulk.
const ANGLE_STEPS: usize = 360;
/// The gain in one-sidedness (ROC AUC) a turn must bring; below it a latent the
/// training found is kept as it is.
const ONE_SIDED_GAIN: f64 = 0.005;

#[derive(Debug, thiserror::Error)]
pub enum RvaeError {
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("bad model: {0}")]
    BadModel(String),
    #[error("cancelled")]
    Cancelled,
}

/// Per-window tensors of one forward pass.
pub(crate) struct Pass {
    pub loss: Tensor,
    pub terms: [Tensor; 4],
}

pub struct Rvae {
    vs: nn::VarStore,
    encoder: Encoder,
    decoder: Decoder,
    grid: Tensor,
    /// (w·w) 1 inside the inscribed disc, 0 outside, when `config.disc`.
    disc: Option<Tensor>,
    /// The pixels a training pass reconstructs: the disc's (their indices into the
    /// window and their grid rows), so that no decoder work goes to pixels the
    /// loss masks out (a quarter of a square window's); None: every pixel.
    fitted: Option<(Tensor, Tensor)>,
    config: RvaeConfig,
    device: tch::Device,
    /// Arithmetic of [`Self::encode`] (see [`Self::set_encode_precision`]).
    encode_kind: Kind,
}

impl std::fmt::Debug for Rvae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rvae").field("config", &self.config).field("device", &self.device).finish()
    }
}

impl Rvae {
    /// A freshly initialised model, its weights drawn from `seed`.
    pub fn new_seeded(config: RvaeConfig, device: tch::Device, seed: u64) -> Result<Self, RvaeError> {
        let model = Self::new(config, device)?;
        crate::init::seeded_init(&model.vs, seed);
        Ok(model)
    }

    /// A model to be filled with stored weights (its initial weights are arbitrary).
    pub fn new(config: RvaeConfig, device: tch::Device) -> Result<Self, RvaeError> {
        if !(4..=256).contains(&config.window) || config.hidden < 1 || config.encoder_layers == 0 {
            return Err(RvaeError::BadModel(format!("unusable rVAE configuration {config:?}")));
        }
        if !(config.coordinate_scale.is_finite() && config.coordinate_scale > 0.0) {
            return Err(RvaeError::BadModel(format!("coordinate scale {} must be > 0", config.coordinate_scale)));
        }
        if !(config.rotation_prior.is_finite() && config.rotation_prior > 0.0) {
            return Err(RvaeError::BadModel("the rotation prior must be > 0 rad".into()));
        }
        let vs = nn::VarStore::new(device);
        let encoder = Encoder::new(&vs.root(), &config);
        let decoder = Decoder::new(&vs.root(), &config);
        let grid = coordinate_grid(config.window as i64, device);
        let disc =
            config.disc.then(|| grid.square().sum_dim_intlist(1, false, Kind::Float).le(1.0).to_kind(Kind::Float));
        let fitted = disc.as_ref().map(|d| {
            let index = d.nonzero().squeeze_dim(1);
            let rows = grid.index_select(0, &index);
            (index, rows)
        });
        let encode_kind = Precision::Auto.kind_for(device);
        Ok(Self { vs, encoder, decoder, grid, disc, fitted, config, device, encode_kind })
    }

    pub fn config(&self) -> &RvaeConfig {
        &self.config
    }

    /// The encoder network (for checks against the fast paths of [`Self::encode`]).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Renumbers (and turns) the content latents so that z1 is the one that most
    /// one-sidedly sets the windows of `x` (n, w·w) that lie far from the bulk mode
    /// apart from the rest ([`crate::analysis::order::far_windows_one_sided`]: the
    /// far windows by the distance of their content means from their median), z2 the
    /// next, …, each signed to grow away from the bulk; ties (and latents that set
    /// nothing apart) go by how closely each follows that distance (Spearman). Most
    /// atoms of a specimen are crystalline, so the median window is the bulk's and
    /// z1 is the latent along which atoms leave it (the paper reads z1 as
    /// crystallinity). Then z1 is turned, in the plane of z1 and z2, toward the
    /// direction (to the degree) along which the far windows leave the bulk most
    /// one-sidedly, z2 perpendicular to it: defects of two kinds that depart between
    /// two latents become one z1. The model computes the same function (the prior
    /// is round), but z1 no longer depends on how training happened to place the
    /// latents. On the seed-8 movie, whose defects fan out from the bulk in (z1, z2),
    /// ranking by Spearman alone named the latent with disorder AUC 0.50 z1, ranking
    /// by one-sidedness the one with 0.90, and one trained run had both latents at
    /// 0.68 (distance AUC 0.998): most windows are bulk, and their noise dominated
    /// the rank correlation. Returns z1's one-sidedness.
    pub(crate) fn order_content_latents(&mut self, x: &Tensor) -> Option<f64> {
        let k = self.config.latent_dim;
        if k == 0 || x.size()[0] < 3 {
            return None;
        }
        let means = tch::no_grad(|| {
            let (mean, _) = self.encoder.forward(&self.masked(x), self.config.window as i64);
            mean.narrow(1, 3, k as i64).to_kind(Kind::Double).transpose(0, 1).contiguous()
        });
        let columns: Vec<Vec<f64>> =
            (0..k).map(|c| Vec::<f64>::try_from(means.get(c as i64)).unwrap_or_default()).collect();
        let distance = crate::analysis::order::distance_from_median(&columns);
        let finite_or = |v: f64, default: f64| if v.is_finite() { v } else { default };
        let rho: Vec<f64> =
            columns.iter().map(|c| finite_or(crate::analysis::order::spearman(c, &distance), 0.0)).collect();
        let auc: Vec<f64> = columns
            .iter()
            .map(|c| finite_or(crate::analysis::order::far_windows_one_sided(c, &distance).unwrap_or(0.5), 0.5))
            .collect();
        let one_sided: Vec<f64> = auc.iter().map(|&a| a.max(1.0 - a)).collect();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| one_sided[b].total_cmp(&one_sided[a]).then(rho[b].abs().total_cmp(&rho[a].abs())));
        let signs: Vec<f64> =
            order.iter().map(|&o| if auc[o] < 0.5 || (auc[o] == 0.5 && rho[o] < 0.0) { -1.0 } else { 1.0 }).collect();
        // The content space as the prior sees it is round, so any orthogonal turn of
        // it is the same model. Rows of `turn`: the new latents in the old ones,
        // first the renumbering and signs above, then, in the plane of the first two,
        // the direction along which the far windows leave the bulk most one-sidedly
        // (defects of two kinds that depart between two latents are then one z1).
        let mut turn: Vec<Vec<f64>> =
            (0..k).map(|i| (0..k).map(|j| if j == order[i] { signs[i] } else { 0.0 }).collect()).collect();
        if k >= 2 {
            let project = |theta: f64| -> Vec<f64> {
                let (sin, cos) = theta.sin_cos();
                columns[order[0]]
                    .iter()
                    .zip(&columns[order[1]])
                    .map(|(a, b)| cos * signs[0] * a + sin * signs[1] * b)
                    .collect()
            };
            let auc_at = |theta: f64| crate::analysis::order::far_windows_one_sided(&project(theta), &distance);
            let best = (0..ANGLE_STEPS)
                .map(|step| std::f64::consts::TAU * step as f64 / ANGLE_STEPS as f64)
                .filter_map(|theta| auc_at(theta).map(|auc| (theta, auc)))
                .fold(None, |best: Option<(f64, f64)>, (theta, auc)| match best {
                    Some((_, top)) if top >= auc => best,
                    _ => Some((theta, auc)),
                });
            if let (Some((theta, auc)), Some(now)) = (best, auc_at(0.0)) {
                if auc > now + ONE_SIDED_GAIN {
                    let (sin, cos) = theta.sin_cos();
                    let (first, second) = (turn[0].clone(), turn[1].clone());
                    turn[0] = first.iter().zip(&second).map(|(a, b)| cos * a + sin * b).collect();
                    // z2 perpendicular to it, signed to grow away from the bulk too.
                    let normal: Vec<f64> = first.iter().zip(&second).map(|(a, b)| -sin * a + cos * b).collect();
                    let z2: Vec<f64> = project(theta + std::f64::consts::FRAC_PI_2);
                    let flip = crate::analysis::order::far_windows_one_sided(&z2, &distance).is_some_and(|a| a < 0.5);
                    turn[1] = normal.iter().map(|v| if flip { -v } else { *v }).collect();
                }
            }
        }
        let z1: Vec<f64> = (0..columns[0].len()).map(|n| (0..k).map(|j| turn[0][j] * columns[j][n]).sum()).collect();
        let one_sided = crate::analysis::order::far_windows_one_sided(&z1, &distance);
        let identity = (0..k).all(|i| (0..k).all(|j| turn[i][j] == if i == j { 1.0 } else { 0.0 }));
        if identity {
            return one_sided;
        }
        self.turn_content_latents(&turn);
        log::debug!("content latents turned so that z1 is the most one-sided departure from the bulk: {turn:?}");
        one_sided
    }

    /// Replaces the content latents z by `turn`·z (an orthogonal k×k matrix, rows the
    /// new latents): the mean head's content rows become `turn`·W, the decoder's
    /// latent columns W·turnᵀ, so means and decoded windows are those of the same
    /// model. The log-sd head's rows become the squared weights' mix of the old ones
    /// (exact for a renumbering and whenever the variances agree; a turned diagonal
    /// posterior cannot be exact otherwise).
    fn turn_content_latents(&mut self, turn: &[Vec<f64>]) {
        let k = turn.len() as i64;
        let flat: Vec<f64> = turn.iter().flatten().copied().collect();
        let turn = Tensor::from_slice(&flat).view([k, k]).to_device(self.device);
        let squared = turn.square();
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (name, var) in &vars {
                let kind = var.kind();
                let mix_rows = |mix: &Tensor| {
                    let rows = var.narrow(0, 3, k).to_kind(Kind::Double);
                    let mixed = if rows.dim() == 1 { mix.mv(&rows) } else { mix.matmul(&rows) };
                    var.narrow(0, 3, k).copy_(&mixed.to_kind(kind));
                };
                match name.as_str() {
                    "enc_mean.weight" | "enc_mean.bias" => mix_rows(&turn),
                    "enc_logsd.weight" | "enc_logsd.bias" => mix_rows(&squared),
                    "dec_latent.weight" => {
                        let turned = var.to_kind(Kind::Double).matmul(&turn.tr());
                        var.shallow_clone().copy_(&turned.to_kind(kind));
                    }
                    _ => {}
                }
            }
        });
    }

    /// `x` (b, w·w) with the pixels outside the disc set to 0 when the model
    /// works on the disc.
    fn masked(&self, x: &Tensor) -> Tensor {
        match &self.disc {
            Some(d) => x * d.to_kind(x.kind()),
            None => x.shallow_clone(),
        }
    }

    /// Changes the weight β of the content and shift KL terms (a training schedule).
    pub(crate) fn set_kl_weight(&mut self, weight: f64) {
        self.config.kl_weight = weight;
    }
    pub fn device(&self) -> tch::Device {
        self.device
    }
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    pub(crate) fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    pub fn to_stored(&self) -> StoredModel {
        StoredModel::from_var_store(MODEL_KIND, serde_json::to_value(&self.config).expect("config"), &self.vs)
    }

    pub fn from_stored(model: &StoredModel, device: tch::Device) -> Result<Self, RvaeError> {
        if model.kind != MODEL_KIND {
            return Err(RvaeError::BadModel(format!("a {} model is not an rVAE", model.kind)));
        }
        let config: RvaeConfig =
            serde_json::from_value(model.config.clone()).map_err(|e| RvaeError::BadModel(format!("config: {e}")))?;
        let mut r = Self::new(config, device)?;
        model.load_into(&mut r.vs).map_err(|e| RvaeError::BadModel(e.to_string()))?;
        Ok(r)
    }

    /// Checks a window stack against the model and flattens it to (N, w·w).
    pub fn windows_tensor(&self, windows: ArrayView3<f32>) -> Result<Tensor, RvaeError> {
        let (n, h, w) = self.check_windows(windows)?;
        let data: Vec<f32> = windows.iter().copied().collect();
        Ok(Tensor::from_slice(&data).view([n as i64, (h * w) as i64]).to_device(self.device))
    }

    /// Refuses windows of another size, none, or with a NaN or infinite pixel.
    fn check_windows(&self, windows: ArrayView3<f32>) -> Result<(usize, usize, usize), RvaeError> {
        let (n, h, w) = self.check_shape(windows)?;
        if let Some(k) = windows.iter().position(|v| !v.is_finite()) {
            return Err(RvaeError::BadInput(format!("window {} has a NaN or infinite pixel", k / (h * w))));
        }
        Ok((n, h, w))
    }

    /// Refuses windows of another size, or none.
    fn check_shape(&self, windows: ArrayView3<f32>) -> Result<(usize, usize, usize), RvaeError> {
        let (n, h, w) = windows.dim();
        if n == 0 {
            return Err(RvaeError::BadInput("no windows".into()));
        }
        if h != self.config.window || w != self.config.window {
            return Err(RvaeError::BadInput(format!(
                "windows of {h}×{w} px given to a model of {0}×{0} px windows",
                self.config.window
            )));
        }
        Ok((n, h, w))
    }

    /// The arithmetic of [`Self::encode`]: `Auto` (the default) is bf16 where the
    /// timed probe found it faster on this CPU (latents then differ from f32's by
    /// ~0.5 % of their spread), `Fp32` the reference.
    pub fn set_encode_precision(&mut self, precision: Precision) {
        self.encode_kind = precision.kind_for(self.device);
    }

    /// Splits a latent vector batch into (angle, shift, content).
    fn pose_and_content(&self, z: &Tensor) -> (Tensor, Option<Tensor>, Tensor) {
        let angle = z.narrow(1, 0, 1).squeeze_dim(1);
        let angle = if self.config.rotation { angle } else { angle.zeros_like() };
        let shift = self.config.translation.then(|| z.narrow(1, 1, 2) * self.config.translation_prior);
        let content = z.narrow(1, 3, self.config.latent_dim as i64);
        (angle, shift, content)
    }

    /// One stochastic pass over (b, w·w) windows: per-window −ELBO and its terms.
    /// `noise`: standard normal draws (b, 3 + k) for the reparameterisation; None
    /// evaluates at the posterior means.
    pub(crate) fn pass(&self, x: &Tensor, noise: Option<&Tensor>) -> Pass {
        let w = self.config.window as i64;
        let x = &self.masked(x);
        let (mean, logsd) = self.encoder.forward(x, w);
        let z = match noise {
            Some(eps) => &mean + logsd.exp() * eps.to_kind(mean.kind()),
            None => mean.shallow_clone(),
        };
        let (angle, shift, content) = self.pose_and_content(&z);
        // Outside a disc both the window and its reconstruction count as 0: only
        // the disc's pixels are decoded and compared.
        let (grid, target) = match &self.fitted {
            Some((index, rows)) => (rows.shallow_clone(), x.index_select(1, index)),
            None => (self.grid.shallow_clone(), x.shallow_clone()),
        };
        let coords = transform_grid(&grid, &angle, shift.as_ref());
        let recon = self.decoder.forward(&coords, &content);
        let reconstruction = (recon - target).square().sum_dim_intlist(1, false, x.kind()) * 0.5;
        let k = self.config.latent_dim as i64;
        let kl_content = gaussian_kl(&mean.narrow(1, 3, k), &logsd.narrow(1, 3, k));
        let kl_translation = if self.config.translation {
            gaussian_kl(&mean.narrow(1, 1, 2), &logsd.narrow(1, 1, 2))
        } else {
            Tensor::zeros_like(&kl_content)
        };
        let kl_rotation = if self.config.rotation {
            rotation_kl(&logsd.narrow(1, 0, 1).squeeze_dim(1), self.config.rotation_prior)
        } else {
            Tensor::zeros_like(&kl_content)
        };
        let loss = &reconstruction
            + (&kl_content + &kl_translation) * self.config.kl_weight
            + &kl_rotation * self.config.rotation_kl_weight;
        Pass { loss, terms: [reconstruction, kl_content, kl_translation, kl_rotation] }
    }

    /// Mean −ELBO of (b, w·w) windows at the posterior means (no sampling): a smooth
    /// function of the weights, for gradient checks.
    pub fn deterministic_loss(&self, x: &Tensor) -> Tensor {
        self.pass(x, None).loss.mean(x.kind())
    }

    /// Element type of the decoder's per-pixel layers (see [`Precision`]).
    pub fn set_decoder_compute(&mut self, kind: Kind) {
        self.decoder.set_compute(kind);
    }

    /// Switches weights and grid to `kind` (e.g. Double for gradient checks).
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
        self.grid = self.grid.to_kind(kind);
        self.disc = self.disc.as_ref().map(|d| d.to_kind(kind));
        self.fitted = self.fitted.as_ref().map(|(index, rows)| (index.shallow_clone(), rows.to_kind(kind)));
    }

    /// −ELBO and its terms on a stack of windows (one sample of q per window, no gradient).
    pub fn evaluate(&self, windows: ArrayView3<f32>) -> Result<ElboTerms, RvaeError> {
        let x = self.windows_tensor(windows)?;
        Ok(tch::no_grad(|| self.evaluate_tensor(&x)))
    }

    /// One sample of q per window, drawn from a fixed seed so that the figure is
    /// reproducible.
    pub(crate) fn evaluate_tensor(&self, x: &Tensor) -> ElboTerms {
        let all: Vec<i64> = (0..x.size()[0]).collect();
        let mut rng = Self::evaluation_rng();
        ElboTerms::from_sums(&self.elbo_sums(x, &all, &mut rng), all.len())
    }

    /// The noise stream of every evaluation (fixed, so figures are reproducible).
    pub(crate) fn evaluation_rng() -> rand_chacha::ChaCha8Rng {
        <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0x5EED)
    }

    /// Sums over the rows `idx` of `x` of the −ELBO and its four terms, gathered
    /// ≈ 64k pixels at a time (the decoder's activations are ~hidden × pixels
    /// floats per layer: 32 MB per pass at 128 hidden units).
    pub(crate) fn elbo_sums(&self, x: &Tensor, idx: &[i64], rng: &mut rand_chacha::ChaCha8Rng) -> [f64; 5] {
        let mut sums = [0.0f64; 5];
        let chunk = (65_536 / (self.config.window * self.config.window)).clamp(1, 500);
        for rows in idx.chunks(chunk) {
            let eps =
                crate::init::normal_tensor(rng, rows.len() as i64, 3 + self.config.latent_dim as i64, self.device);
            let rows = Tensor::from_slice(rows).to_device(x.device());
            let p = self.pass(&x.index_select(0, &rows), Some(&eps));
            sums[0] += p.loss.sum(Kind::Double).double_value(&[]);
            for (i, t) in p.terms.iter().enumerate() {
                sums[i + 1] += t.sum(Kind::Double).double_value(&[]);
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turning_content_latents_keeps_the_model_and_puts_the_most_one_sided_departure_from_the_bulk_first() {
        let mut model = Rvae::new_seeded(
            RvaeConfig { window: 8, hidden: 16, latent_dim: 3, ..Default::default() },
            tch::Device::Cpu,
            4,
        )
        .unwrap();
        let x = Tensor::from_slice(&(0..40 * 64).map(|i| ((i * 37 % 101) as f32) / 101.0).collect::<Vec<_>>())
            .view([40, 64]);
        let before = model.encode_tensor(&x);
        let reconstruction = |m: &Rvae| m.pass(&x, None).terms[0].sum(Kind::Double).double_value(&[]);
        let loss_before = reconstruction(&model);
        model.order_content_latents(&x);
        let after = model.encode_tensor(&x);
        let loss_after = reconstruction(&model);
        assert!(
            (loss_before - loss_after).abs() < 1e-4 * loss_before,
            "the same function: {loss_before} vs {loss_after}"
        );
        let column = |l: &Latents, c: usize| l.mean.column(c).iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let distance =
            crate::analysis::order::distance_from_median(&(3..6).map(|c| column(&after, c)).collect::<Vec<_>>());
        let auc: Vec<f64> = (3..6)
            .map(|c| crate::analysis::order::far_windows_one_sided(&column(&after, c), &distance).unwrap())
            .collect();
        assert!(auc.iter().all(|&a| a >= 0.5), "every latent grows away from the bulk: {auc:?}");
        assert!(auc[0] >= auc[1] && auc[0] >= auc[2], "the most one-sided first: {auc:?}");
        let before_distance =
            crate::analysis::order::distance_from_median(&(3..6).map(|c| column(&before, c)).collect::<Vec<_>>());
        let best_before = (3..6)
            .map(|c| crate::analysis::order::far_windows_one_sided(&column(&before, c), &before_distance).unwrap())
            .fold(0.0f64, |top, a| top.max(a).max(1.0 - a));
        eprintln!("one-sidedness before {best_before}, after {auc:?}");
        assert!(auc[0] >= best_before - 0.01, "z1 at least as one-sided as any latent was: {auc:?} vs {best_before}");
        // The same latents, turned: every window keeps its length in the content space.
        let length = |l: &Latents, n: usize| (3..6).map(|c| (l.mean[[n, c]] as f64).powi(2)).sum::<f64>().sqrt();
        for n in 0..40 {
            assert!((length(&before, n) - length(&after, n)).abs() < 1e-4, "window {n} moved in the content space");
        }
        assert_eq!(before.mean.column(0), after.mean.column(0), "the pose is untouched");
    }

    #[test]
    fn a_disc_model_decodes_only_its_disc_and_loses_nothing_by_it() {
        let cfg = RvaeConfig { window: 12, hidden: 16, disc: true, ..Default::default() };
        let model = Rvae::new_seeded(cfg.clone(), tch::Device::Cpu, 3).unwrap();
        let (index, _) = model.fitted.as_ref().unwrap();
        assert_eq!(index.size()[0] as usize, cfg.decoded_pixels(), "the FLOP count decodes the same pixels");
        assert!(cfg.decoded_pixels() < 12 * 12 * 4 / 5);
        let x =
            Tensor::from_slice(&(0..7 * 144).map(|i| ((i * 53 % 97) as f32) / 97.0).collect::<Vec<_>>()).view([7, 144]);
        // The loss of the whole window's reconstruction, masked afterwards.
        let masked = model.masked(&x);
        let (mean, _) = model.encoder.forward(&masked, 12);
        let (angle, shift, content) = model.pose_and_content(&mean);
        let full = model.decoder.forward(&transform_grid(&model.grid, &angle, shift.as_ref()), &content);
        let want = ((model.masked(&full) - &masked).square().sum_dim_intlist(1, false, Kind::Float) * 0.5)
            .sum(Kind::Double)
            .double_value(&[]);
        let got = model.pass(&x, None).terms[0].sum(Kind::Double).double_value(&[]);
        assert!((got - want).abs() < 1e-4 * want.abs(), "{got} vs {want}");
    }
}
