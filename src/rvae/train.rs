//! Training the rVAE: a seeded train/held-out split, shuffled mini-batches, Adam,
//! the held-out −ELBO after every epoch, an optional early stop, progress and
//! cancellation. Mini-batches may be split into micro-batches whose gradients are
//! summed before one optimiser step: the same update as the whole batch, but the
//! per-pixel activations of the decoder stay small enough for the CPU caches.

use ndarray::ArrayView3;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{nn, Kind, Tensor};

use super::{ElboTerms, Rvae, RvaeError};
use crate::progress::Progress;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RvaeTrainConfig {
    pub epochs: usize,
    pub batch: usize,
    /// Windows per forward/backward pass inside a batch (0 = automatic: about 8k
    /// pixels per pass, which keeps the decoder's activations in the CPU caches).
    pub micro_batch: usize,
    /// Arithmetic of the decoder's per-pixel layers.
    pub precision: super::Precision,
    pub learning_rate: f64,
    /// Fraction of windows held out (the paper's text: 25 %; its notebook: 15 %).
    pub holdout_fraction: f64,
    /// Stop when the held-out −ELBO has not improved by 0.1 % for this many epochs
    /// (0 = never); the model then keeps the weights of its best held-out epoch.
    pub early_stop_patience: usize,
    /// Halve the learning rate after this many epochs without that improvement
    /// (0 = never): a high rate crosses the early plateaus fast, a lower one then
    /// settles into the minimum, so training converges in fewer epochs.
    pub lr_decay_patience: usize,
    /// After the KL warm-up, lower the learning rate linearly towards 0 (never
    /// below 1 % of its start) by the end of training — the last of `epochs`, or
    /// the end of the time budget, whichever comes first (re-judged every epoch
    /// from the time spent so far). A budget spent on a schedule that ends there reaches a lower loss than
    /// a constant rate stopped early ("budgeted training", Li, Yumer & Ramanan, ICLR
    /// 2020); replaces the halving of `lr_decay_patience`.
    pub anneal: bool,
    /// Stop after the epoch that ends past this many seconds of training (0 = no
    /// limit); with early stopping the best held-out weights are kept.
    pub time_budget_s: f64,
    /// Most MiB of windows held in memory at once; bigger training sets are read
    /// in shuffled blocks each epoch (see [`train_rvae_rows`]).
    pub resident_mib: usize,
    /// For the first `kl_warmup_epochs` epochs the content and shift latents' KL
    /// weighs `kl_warmup_weight` instead of the model's β. Below 1 (the recipe's
    /// 0.1, the KL annealing of Bowman et al. 2016) the content latents learn to
    /// carry the windows' differences before the decoder can draw the mean motif
    /// without them: on the demo's 4 Å windows the full KL from the first epoch
    /// left them at the prior (posterior collapse, KL 0.001 nats) and disorder
    /// unseen. Above 1 content is costly, so the only cheap way to explain a
    /// turned motif (graphene's two sublattices, 60° apart) is the angle, whose
    /// prior leaves its mean free (what 6 Å windows needed). Reported −ELBOs
    /// always use the model's β.
    pub kl_warmup_epochs: usize,
    pub kl_warmup_weight: f64,
    /// Windows per batch during the warm-up (0 = `batch`). Larger batches make the
    /// angle's take-over of the turns less of a gamble: with batches of 25 the
    /// content latents took the sublattices on the demo's movie (seed 7), with
    /// batches of 100 the angle did; smaller batches then converge faster.
    pub kl_warmup_batch: usize,
    /// Warm-ups tried from different initial weights (≤ 1: just one). Whether the
    /// angle takes the turns is decided during the warm-up and can go either way
    /// from one initialisation to the next (one seed in four lost the sublattices
    /// on the demo's movie). The model's own run is kept unless another try ended
    /// its warm-up more than 10 % lower in held-out −ELBO; then training starts
    /// again from that try's initial weights. Needs a hold-out and a warm-up
    /// shorter than training; the tries spend the time budget too.
    pub kl_warmup_tries: usize,
    /// Whole training runs tried from other initial weights (≤ 1: just one) while
    /// z1 sets the windows far from the bulk apart on both sides of it (their ROC
    /// AUC against the near ones, [`crate::analysis::order::far_windows_one_sided`],
    /// below 0.9): the run whose z1 is most one-sided is kept. Whether a run sends
    /// the departures from the bulk one way along z1 (as the paper reads it,
    /// crystallinity), fans them out around the bulk in (z1, z2) or sends kinds of
    /// defect opposite ways is settled by its initial weights (on the seed-8 movie
    /// three runs scored 0.65, 0.82 and 0.95; the kept run's z1 AUC for disorder
    /// was 0.944). A try starts only while the time budget holds another run as
    /// long as the ones before.
    pub one_sided_tries: usize,
    pub seed: u64,
}

impl Default for RvaeTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch: 100,
            micro_batch: 0,
            precision: super::Precision::Auto,
            learning_rate: 1e-4,
            holdout_fraction: 0.25,
            early_stop_patience: 0,
            lr_decay_patience: 0,
            anneal: false,
            time_budget_s: 0.0,
            resident_mib: 256,
            kl_warmup_epochs: 0,
            kl_warmup_weight: 1.0,
            kl_warmup_batch: 0,
            kl_warmup_tries: 1,
            one_sided_tries: 1,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: ElboTerms,
    pub holdout: Option<ElboTerms>,
    pub seconds: f64,
    /// The learning rate of this epoch.
    pub learning_rate: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RvaeTrainReport {
    pub epochs: Vec<EpochRecord>,
    pub windows_per_second: f64,
    pub train_windows: usize,
    pub holdout_windows: usize,
    pub stopped_early: bool,
    /// With early stopping: the epoch whose weights the model keeps (the best
    /// held-out −ELBO), not the last one trained.
    pub best_epoch: Option<usize>,
    /// Why training ended: "all epochs", "converged" (no held-out improvement of
    /// 0.1 % for `early_stop_patience` epochs), "annealed" (an anneal ran its
    /// course: to the last epoch or the end of the time budget) or "time budget"
    /// (spent without an anneal, or before it began).
    pub stop_reason: String,
    /// How much the best held-out −ELBO improved over the last
    /// [`RECENT_EPOCHS`] epochs, relative (0.01 = 1 %): how far from converged
    /// training ended, whatever the reason. None without a hold-out or with
    /// fewer epochs.
    pub recent_gain: Option<f64>,
    /// With several warm-up tries: the held-out −ELBO at the end of each try's
    /// warm-up, and which try the model was then trained from.
    pub warmup_tries: Vec<f64>,
    pub chosen_warmup: Option<usize>,
    /// z1's one-sidedness (the ROC AUC of the windows far from the bulk against the
    /// rest) for each whole run tried ([`RvaeTrainConfig::one_sided_tries`]), and
    /// the run kept.
    pub one_sided: Vec<f64>,
    pub chosen_run: Option<usize>,
}

/// The window of [`RvaeTrainReport::recent_gain`], in epochs.
pub const RECENT_EPOCHS: usize = 10;

impl RvaeTrainReport {
    /// The relative gain of the best held-out −ELBO in the last `recent` epochs
    /// over the best before them.
    fn gain_over_last(&self, recent: usize) -> Option<f64> {
        let held: Vec<f64> = self.epochs.iter().filter_map(|e| e.holdout.map(|h| h.neg_elbo)).collect();
        if held.len() <= recent || held.len() < self.epochs.len() {
            return None;
        }
        let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let before = best(&held[..held.len() - recent]);
        Some((before - best(&held)) / before.abs().max(1e-12))
    }
}

/// Windows per pass for automatic micro-batching: ≈ 8k decoded pixels in f32,
/// ≈ 16k in bf16 (measured best on 2-core AVX-512/AMX machines), at least one.
/// `decoded_pixels`: per window ([`super::RvaeConfig::decoded_pixels`]).
pub fn auto_micro_batch(decoded_pixels: usize, compute: Kind) -> usize {
    let pixels = if compute == Kind::BFloat16 { 16_384 } else { 8_192 };
    (pixels / decoded_pixels.max(1)).max(1)
}

/// Splits a batch of `batch` windows into passes of at most `micro` windows, all
/// of (nearly) the same size: 25 with at most 18 → 13 + 12, not 18 + 7, whose
/// small pass would waste most of a pass's fixed cost.
fn even_passes(batch: i64, micro: i64) -> impl Iterator<Item = (i64, i64)> {
    let passes = (batch + micro - 1) / micro.max(1);
    (0..passes).map(move |k| {
        let start = k * batch / passes;
        (start, (k + 1) * batch / passes - start)
    })
}

/// The learning rate's floor at the end of an anneal, as a fraction of its start.
const ANNEAL_FLOOR: f64 = 0.01;

/// How far along its anneal the learning rate is when an epoch starts (0 at the
/// first epoch after the warm-up): the larger of the share of the annealed epochs
/// and of the time left after the warm-up already spent, so the rate nears its
/// floor in the last epoch either way, and the anneal keeps pace with the clock
/// when epochs slow down.
fn anneal_progress(
    epoch: usize,
    first: usize,
    epochs: usize,
    seconds_since_first: f64,
    seconds_for_anneal: Option<f64>,
) -> f64 {
    let by_epochs = (epoch - first) as f64 / (epochs - first).max(1) as f64;
    let by_time = seconds_for_anneal.map_or(0.0, |total| seconds_since_first / total.max(1e-9));
    by_epochs.max(by_time).clamp(0.0, 1.0)
}

/// Refuses settings no training can use (a zero batch, a hold-out of 100 %,
/// a learning rate outside (0, 10], a negative or infinite warm-up weight).
fn check_settings(config: &RvaeTrainConfig) -> Result<(), RvaeError> {
    let usable = config.batch > 0
        && (0.0..1.0).contains(&config.holdout_fraction)
        && (f64::MIN_POSITIVE..=10.0).contains(&config.learning_rate)
        && config.kl_warmup_weight.is_finite()
        && config.kl_warmup_weight >= 0.0;
    if usable {
        Ok(())
    } else {
        Err(RvaeError::BadInput(format!("unusable training settings {config:?}")))
    }
}

/// Trains `model` on `windows` (N, w, w).
pub fn train_rvae(
    model: &mut Rvae,
    windows: ArrayView3<f32>,
    config: &RvaeTrainConfig,
    progress: &mut dyn Progress,
) -> Result<RvaeTrainReport, RvaeError> {
    check_settings(config)?;
    let x = model.windows_tensor(windows)?;
    train_rvae_tensor(model, x, config, progress)
}

/// Training windows that need not all be in memory at once: contiguous rows on
/// request (a tensor, or a dataset in the analysis file).
pub trait WindowRows {
    /// Number of windows.
    fn count(&self) -> usize;
    /// Pixels per window (w·w).
    fn pixels(&self) -> usize;
    /// Rows `start..start + len` as a (len, w·w) f32 tensor.
    fn rows(&self, start: usize, len: usize) -> Result<Tensor, RvaeError>;
}

impl WindowRows for Tensor {
    fn count(&self) -> usize {
        self.size().first().copied().unwrap_or(0) as usize
    }
    fn pixels(&self) -> usize {
        self.size().get(1).copied().unwrap_or(0) as usize
    }
    fn rows(&self, start: usize, len: usize) -> Result<Tensor, RvaeError> {
        Ok(self.narrow(0, start as i64, len as i64))
    }
}

/// Windows are read and shuffled in units of this many consecutive rows (the
/// analysis file's chunk length).
pub const ROWS_PER_UNIT: usize = 1024;

/// As [`train_rvae`], on windows already flattened into a (N, w·w) tensor.
pub fn train_rvae_tensor(
    model: &mut Rvae,
    x: Tensor,
    config: &RvaeTrainConfig,
    progress: &mut dyn Progress,
) -> Result<RvaeTrainReport, RvaeError> {
    if x.dim() != 2 {
        return Err(RvaeError::BadInput(format!("expected (N, w·w) windows, got {:?}", x.size())));
    }
    train_rvae_rows(model, &x, config, progress)
}

/// The part of an epoch's data in memory at once: some units of rows, moved to
/// the model's device, and where each unit starts in it.
struct Block {
    x: Tensor,
    units: Vec<usize>,
}

/// The block an epoch works on: the resident one, or one just read.
enum BlockRef<'a> {
    Resident(&'a Block),
    Loaded(Block),
}

impl std::ops::Deref for BlockRef<'_> {
    type Target = Block;
    fn deref(&self) -> &Block {
        match self {
            Self::Resident(block) => block,
            Self::Loaded(block) => block,
        }
    }
}

impl Block {
    fn load(source: &dyn WindowRows, units: Vec<usize>, device: tch::Device) -> Result<Self, RvaeError> {
        let n = source.count();
        let lens: Vec<usize> = units.iter().map(|&u| ROWS_PER_UNIT.min(n - u * ROWS_PER_UNIT)).collect();
        let x = if units.len() == 1 {
            source.rows(units[0] * ROWS_PER_UNIT, lens[0])?.to_device(device)
        } else {
            // Filled unit by unit: never the parts and their concatenation at once.
            let x = Tensor::empty([lens.iter().sum::<usize>() as i64, source.pixels() as i64], (Kind::Float, device));
            let mut offset = 0;
            for (&u, &len) in units.iter().zip(&lens) {
                x.narrow(0, offset, len as i64).copy_(&source.rows(u * ROWS_PER_UNIT, len)?);
                offset += len as i64;
            }
            x
        };
        Ok(Self { x, units })
    }

    /// The resident block when everything fits in memory, else `units` read now.
    fn resident_or_load<'a>(
        resident: &'a Option<Block>,
        source: &dyn WindowRows,
        units: &[usize],
        device: tch::Device,
    ) -> Result<BlockRef<'a>, RvaeError> {
        Ok(match resident {
            Some(block) => BlockRef::Resident(block),
            None => BlockRef::Loaded(Block::load(source, units.to_vec(), device)?),
        })
    }

    /// Block-local positions of the rows whose `held` flag equals `want`.
    fn positions(&self, held: &[bool], want: bool) -> Vec<i64> {
        let mut out = Vec::new();
        let mut offset = 0i64;
        for &u in &self.units {
            let first = u * ROWS_PER_UNIT;
            let last = (first + ROWS_PER_UNIT).min(held.len());
            out.extend((first..last).filter(|&i| held[i] == want).map(|i| offset + (i - first) as i64));
            offset += (last - first) as i64;
        }
        out
    }
}

/// Trains on windows that may live on disk: when they exceed
/// `config.resident_mib`, each epoch reads them in blocks of randomly chosen
/// units (shuffled within the block), so memory stays bounded for any movie;
/// otherwise they are read once and shuffled whole. With `kl_warmup_tries` > 1
/// the warm-up is first tried from other initial weights, with
/// `one_sided_tries` > 1 whole runs are (see there).
pub fn train_rvae_rows(
    model: &mut Rvae,
    source: &dyn WindowRows,
    config: &RvaeTrainConfig,
    progress: &mut dyn Progress,
) -> Result<RvaeTrainReport, RvaeError> {
    check_settings(config)?;
    let started = std::time::Instant::now();
    let mut report = train_with_warmup_tries(model, source, config, progress)?;
    let score = |r: &RvaeTrainReport| r.one_sided.first().copied().unwrap_or(f64::NAN);
    let mut scores = vec![score(&report)];
    let enough = |s: f64| !s.is_finite() || s >= ONE_SIDED_ENOUGH;
    if config.one_sided_tries <= 1 || enough(scores[0]) {
        report.chosen_run = Some(0);
        return Ok(report);
    }
    let mut best = (0, snapshot_weights(model), report);
    for attempt in 1..config.one_sided_tries {
        let spent = started.elapsed().as_secs_f64();
        let left = config.time_budget_s - spent;
        if config.time_budget_s > 0.0 && left < spent / attempt as f64 {
            log::info!("no time left for another run (z1's one-sidedness {:.2})", scores[best.0]);
            break;
        }
        log::info!(
            "z1 sets the windows far from the bulk apart with ROC AUC {:.2} only (not one-sided): training again from other initial weights (run {}/{})",
            scores[scores.len() - 1],
            attempt + 1,
            config.one_sided_tries
        );
        reinitialise_for_try(model, config.seed, WHOLE_RUN_SALT, attempt);
        let run_config = RvaeTrainConfig { time_budget_s: budget_left(config.time_budget_s, spent), ..config.clone() };
        let label = format!("run {} of at most {}", attempt + 1, config.one_sided_tries);
        let mut labelled = crate::progress::Labelled { inner: progress, label };
        let run = train_with_warmup_tries(model, source, &run_config, &mut labelled)?;
        let s = score(&run);
        scores.push(s);
        if s > scores[best.0] || !scores[best.0].is_finite() {
            best = (attempt, snapshot_weights(model), run);
        }
        if enough(s) {
            break;
        }
    }
    let (chosen, weights, mut report) = best;
    restore_weights(model, &weights);
    log::info!(
        "kept run {} of {}: z1 sets the windows far from the bulk apart with ROC AUC {:.2}",
        chosen + 1,
        scores.len(),
        scores[chosen]
    );
    report.one_sided = scores;
    report.chosen_run = Some(chosen);
    Ok(report)
}

/// z1 counts as one-sided when it sets the windows far from the bulk apart from the
/// rest with at least this ROC AUC (the goal for z1's disorder AUC).
const ONE_SIDED_ENOUGH: f64 = 0.9;

/// [`train_rvae_rows`] without the whole-run tries.
fn train_with_warmup_tries(
    model: &mut Rvae,
    source: &dyn WindowRows,
    config: &RvaeTrainConfig,
    progress: &mut dyn Progress,
) -> Result<RvaeTrainReport, RvaeError> {
    let tries = config.kl_warmup_tries;
    // Tries need a warm-up that ends before training does, and a hold-out to judge it.
    if tries <= 1
        || config.kl_warmup_epochs == 0
        || config.kl_warmup_epochs >= config.epochs
        || config.holdout_fraction == 0.0
    {
        return train_once(model, source, config, progress, &mut |_| true);
    }
    let started = std::time::Instant::now();
    let own = snapshot_weights(model);
    // The other tries first, warm-up only. Every try sees the same split and batch
    // order (the config's seed); only the initial weights differ.
    let warmup_only = RvaeTrainConfig {
        epochs: config.kl_warmup_epochs,
        anneal: false,
        early_stop_patience: 0,
        lr_decay_patience: 0,
        time_budget_s: 0.0,
        kl_warmup_tries: 1,
        ..config.clone()
    };
    let mut held_outs = vec![f64::NAN];
    let mut best_other: Option<(usize, Vec<(String, Tensor)>)> = None;
    for attempt in 1..tries {
        reinitialise_for_try(model, config.seed, WARMUP_SALT, attempt);
        let initial = snapshot_weights(model);
        // Stopped at its warm-up's end like a run set aside, so it spends nothing
        // on what only a kept run needs (naming z1 on a sample).
        let label = format!("warm-up try {} of {tries}", attempt + 1);
        let mut labelled = crate::progress::Labelled { inner: progress, label };
        let report = train_once(model, source, &warmup_only, &mut labelled, &mut |_| false)?;
        let held = report.epochs.last().and_then(|e| e.holdout).map_or(f64::INFINITY, |h| h.neg_elbo);
        log::info!("warm-up try {}/{tries}: held-out −ELBO {held:.3}", attempt + 1);
        if best_other.as_ref().is_none_or(|(b, _)| held_outs[*b].is_nan() || held < held_outs[*b]) {
            best_other = Some((attempt, initial));
        }
        held_outs.push(held);
    }
    let (other, other_weights) = best_other.expect("at least two tries");
    let left = |spent: f64| budget_left(config.time_budget_s, spent);
    // Then the model's own weights, trained through: it goes on past its warm-up
    // unless the best other try ended its warm-up clearly lower.
    restore_weights(model, &own);
    let own_config =
        RvaeTrainConfig { kl_warmup_tries: 1, time_budget_s: left(started.elapsed().as_secs_f64()), ..config.clone() };
    let mut own_held = f64::NAN;
    let mut report = train_once(model, source, &own_config, progress, &mut |held| {
        own_held = held;
        held_outs[other] >= held * (1.0 - SET_ASIDE_MARGIN)
    })?;
    held_outs[0] = own_held;
    let chosen = if report.stop_reason == SET_ASIDE {
        log::info!(
            "warm-up try {} ended lower (held-out −ELBO {:.3} vs {own_held:.3}): training from its initial weights",
            other + 1,
            held_outs[other]
        );
        restore_weights(model, &other_weights);
        let spent = started.elapsed().as_secs_f64();
        report = train_once(
            model,
            source,
            &RvaeTrainConfig { time_budget_s: left(spent), ..own_config },
            progress,
            &mut |_| true,
        )?;
        other
    } else {
        0
    };
    report.warmup_tries = held_outs;
    report.chosen_warmup = Some(chosen);
    Ok(report)
}

/// How much lower (relative) another try's warm-up must end for the model's own
/// to be set aside: a warm-up whose content latents took the turns ended ~30 %
/// higher on the demo's movie, good ones within ~6 % of each other.
const SET_ASIDE_MARGIN: f64 = 0.1;

/// The stop reason of a run abandoned after its warm-up for a better try.
const SET_ASIDE: &str = "warm-up set aside";

/// Seeds that tell the warm-up tries' initial weights from the whole runs'.
const WARMUP_SALT: u64 = 0x9e37_79b9_7f4a_7c15;
const WHOLE_RUN_SALT: u64 = 0x5851_f42d_4c95_7f2d;

/// Gives the model the initial weights of try `attempt` (≥ 1) of a kind (`salt`).
fn reinitialise_for_try(model: &Rvae, seed: u64, salt: u64, attempt: usize) {
    crate::init::seeded_init(model.var_store(), seed ^ salt.wrapping_mul(attempt as u64));
}

/// What a time budget leaves after `spent_s` seconds: 0 (no budget) stays 0, and a
/// spent budget still leaves 1 s, so the next run gets at least an epoch.
fn budget_left(budget_s: f64, spent_s: f64) -> f64 {
    if budget_s > 0.0 {
        (budget_s - spent_s).max(1.0)
    } else {
        0.0
    }
}

/// A copy of the model's variables, by name (for [`restore_weights`]).
fn snapshot_weights(model: &Rvae) -> Vec<(String, Tensor)> {
    model.var_store().variables().into_iter().map(|(name, t)| (name, t.detach().copy())).collect()
}

/// Sets the model's variables to stored values (by name).
fn restore_weights(model: &mut Rvae, weights: &[(String, Tensor)]) {
    let vars = model.var_store().variables();
    tch::no_grad(|| {
        for (name, value) in weights {
            if let Some(var) = vars.get(name) {
                var.shallow_clone().copy_(value);
            }
        }
    });
}

/// One training run (the body of [`train_rvae_rows`]); `go_on_after_warmup` is
/// told the held-out −ELBO at the end of the warm-up and may stop the run there.
fn train_once(
    model: &mut Rvae,
    source: &dyn WindowRows,
    config: &RvaeTrainConfig,
    progress: &mut dyn Progress,
    go_on_after_warmup: &mut dyn FnMut(f64) -> bool,
) -> Result<RvaeTrainReport, RvaeError> {
    let w = model.config().window;
    let n = source.count();
    if source.pixels() != w * w || n == 0 {
        return Err(RvaeError::BadInput(format!(
            "expected (N ≥ 1, {}) windows, got ({n}, {})",
            w * w,
            source.pixels()
        )));
    }
    crate::device::tune_allocator();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    order.shuffle(&mut rng);
    let n_hold = ((n as f64) * config.holdout_fraction).round() as usize;
    if n - n_hold == 0 {
        return Err(RvaeError::BadInput(format!("{n} windows leave none to train on")));
    }
    let mut held = vec![false; n];
    for &i in &order[..n_hold] {
        held[i] = true;
    }
    let n_train = n - n_hold;
    let device = model.device();
    let units = n.div_ceil(ROWS_PER_UNIT);
    let unit_bytes = ROWS_PER_UNIT * w * w * std::mem::size_of::<f32>();
    let units_per_block = ((config.resident_mib << 20) / unit_bytes).max(1);
    // Everything fits: read once, keep for all epochs.
    let resident =
        if units <= units_per_block { Some(Block::load(source, (0..units).collect(), device)?) } else { None };
    if resident.is_none() {
        log::info!(
            "{n} windows exceed {} MiB: each epoch reads them in blocks of {} windows",
            config.resident_mib,
            units_per_block * ROWS_PER_UNIT
        );
    }
    let mut opt = nn::Adam::default()
        .build(model.var_store_mut(), config.learning_rate)
        .map_err(|e| RvaeError::BadModel(e.to_string()))?;
    let compute = config.precision.kind_for(device);
    let micro = match config.micro_batch {
        0 => auto_micro_batch(model.config().decoded_pixels(), compute),
        given => given,
    } as i64;
    model.set_decoder_compute(compute);
    log::debug!("rVAE decoder computes in {compute:?}, {micro} windows per pass");
    let mut report = RvaeTrainReport { train_windows: n_train, holdout_windows: n_hold, ..Default::default() };
    let mut best = f64::INFINITY;
    let mut since_best = 0;
    let mut since_decay = 0;
    let mut learning_rate = config.learning_rate;
    // Seconds into training when the anneal began (the first epoch after the warm-up).
    let mut anneal_started: Option<f64> = None;
    let mut best_weights: Option<Vec<(String, Tensor)>> = None;
    let started = std::time::Instant::now();
    progress.start("train rVAE", (config.epochs * n_train) as u64);
    let beta = model.config().kl_weight;
    let rotation_weight = model.config().rotation_kl_weight;
    let outcome = (|| {
        for epoch in 0..config.epochs {
            let t0 = std::time::Instant::now();
            let warming_up = epoch < config.kl_warmup_epochs;
            let batch_size = match config.kl_warmup_batch {
                given if warming_up && given > 0 => given,
                _ => config.batch,
            };
            if config.anneal && !warming_up {
                let since = started.elapsed().as_secs_f64();
                let anneal_start = *anneal_started.get_or_insert(since);
                let budget = (config.time_budget_s > 0.0).then_some(config.time_budget_s - anneal_start);
                let along =
                    anneal_progress(epoch, config.kl_warmup_epochs, config.epochs, since - anneal_start, budget);
                learning_rate = config.learning_rate * (1.0 - along).max(ANNEAL_FLOOR);
                opt.set_lr(learning_rate);
            }
            model.set_kl_weight(if warming_up { config.kl_warmup_weight } else { beta });
            let mut sums = [0.0f64; 5];
            let mut unit_order: Vec<usize> = (0..units).collect();
            unit_order.shuffle(&mut rng);
            for block_units in unit_order.chunks(units_per_block) {
                let block = Block::resident_or_load(&resident, source, block_units, device)?;
                let mut positions = block.positions(&held, false);
                positions.shuffle(&mut rng);
                for batch in positions.chunks(batch_size) {
                    if progress.cancelled() {
                        return Err(RvaeError::Cancelled);
                    }
                    let xb = block.x.index_select(0, &Tensor::from_slice(batch).to_device(device));
                    let b = batch.len() as i64;
                    opt.zero_grad();
                    for (start, len) in even_passes(b, micro) {
                        let eps =
                            crate::init::normal_tensor(&mut rng, len, 3 + model.config().latent_dim as i64, device);
                        let p = model.pass(&xb.narrow(0, start, len), Some(&eps));
                        // Mean over the whole batch: each micro-batch adds its share.
                        (p.loss.sum(Kind::Float) / b as f64).backward();
                        sums[0] += p.loss.sum(Kind::Double).double_value(&[]);
                        for (i, t) in p.terms.iter().enumerate() {
                            sums[i + 1] += t.sum(Kind::Double).double_value(&[]);
                        }
                    }
                    opt.step();
                    progress.advance(batch.len() as u64);
                }
            }
            // The −ELBO with the model's own β, whatever the schedule weighed.
            sums[0] = sums[1] + beta * (sums[2] + sums[3]) + rotation_weight * sums[4];
            let train = ElboTerms::from_sums(&sums, n_train);
            model.set_kl_weight(beta);
            let held_out = if n_hold > 0 {
                let mut eval_rng = Rvae::evaluation_rng();
                let mut hold_sums = [0.0f64; 5];
                let all_units: Vec<usize> = (0..units).collect();
                for block_units in all_units.chunks(units_per_block) {
                    let block = Block::resident_or_load(&resident, source, block_units, device)?;
                    let positions = block.positions(&held, true);
                    let s = tch::no_grad(|| model.elbo_sums(&block.x, &positions, &mut eval_rng));
                    hold_sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
                }
                Some(ElboTerms::from_sums(&hold_sums, n_hold))
            } else {
                None
            };
            let seconds = t0.elapsed().as_secs_f64();
            log::info!(
                "epoch {}/{}: −ELBO train {:.3} (recon {:.3}, KL z {:.3}, KL shift {:.3}, KL rot {:.3}){}, {:.0} windows/s",
                epoch + 1,
                config.epochs,
                train.neg_elbo,
                train.reconstruction,
                train.kl_content,
                train.kl_translation,
                train.kl_rotation,
                held_out.map(|h| format!(", held-out {:.3}", h.neg_elbo)).unwrap_or_default(),
                n_train as f64 / seconds
            );
            report.epochs.push(EpochRecord { epoch, train, holdout: held_out, seconds, learning_rate });
            report.windows_per_second = (report.epochs.len() * n_train) as f64 / started.elapsed().as_secs_f64();
            if let (Some(h), true) = (held_out, epoch + 1 == config.kl_warmup_epochs) {
                if !go_on_after_warmup(h.neg_elbo) {
                    report.stop_reason = SET_ASIDE.into();
                    break;
                }
            }
            if let (Some(h), false) = (held_out, warming_up) {
                // Patience restarts only on a real improvement (0.1 %), not on noise.
                let improved_enough = !best.is_finite() || h.neg_elbo < best - (1e-3 * best.abs()).max(1e-6);
                if h.neg_elbo < best {
                    best = h.neg_elbo;
                    if config.early_stop_patience > 0 {
                        report.best_epoch = Some(epoch);
                        best_weights = Some(snapshot_weights(model));
                    }
                }
                since_best = if improved_enough { 0 } else { since_best + 1 };
                since_decay = if improved_enough { 0 } else { since_decay + 1 };
                if !config.anneal && config.lr_decay_patience > 0 && since_decay >= config.lr_decay_patience {
                    since_decay = 0;
                    learning_rate *= 0.5;
                    opt.set_lr(learning_rate);
                    log::info!(
                        "held-out −ELBO flat for {} epochs: learning rate → {learning_rate:.2e}",
                        config.lr_decay_patience
                    );
                }
                if config.early_stop_patience > 0 && since_best >= config.early_stop_patience {
                    report.stop_reason = "converged".into();
                    report.stopped_early = true;
                    break;
                }
            }
            if config.time_budget_s > 0.0 && started.elapsed().as_secs_f64() >= config.time_budget_s {
                report.stop_reason = "time budget".into();
                report.stopped_early = epoch + 1 < config.epochs;
                break;
            }
        }
        Ok(())
    })();
    progress.finish();
    model.set_decoder_compute(Kind::Float);
    model.set_kl_weight(beta);
    outcome?;
    if report.stop_reason == SET_ASIDE {
        return Ok(report);
    }
    if report.stop_reason.is_empty() {
        report.stop_reason = "all epochs".into();
    }
    // An anneal ends where training was bound to end: at the last epoch or the budget.
    let annealed = anneal_started.is_some() && matches!(report.stop_reason.as_str(), "all epochs" | "time budget");
    if annealed {
        report.stop_reason = "annealed".into();
    }
    report.recent_gain = report.gain_over_last(RECENT_EPOCHS);
    log::info!(
        "training ended after epoch {} of {}: {}{}",
        report.epochs.len(),
        config.epochs,
        match report.stop_reason.as_str() {
            "converged" =>
                format!("converged (held-out −ELBO not 0.1 % better for {} epochs)", config.early_stop_patience),
            "time budget" => format!("time budget of {:.0} s spent", config.time_budget_s),
            "annealed" => format!(
                "annealed (learning rate down to {learning_rate:.1e} at the end of {})",
                if config.time_budget_s > 0.0 && report.epochs.len() < config.epochs {
                    format!("the time budget of {:.0} s", config.time_budget_s)
                } else {
                    "the epochs".to_string()
                }
            ),
            other => other.to_string(),
        },
        report
            .recent_gain
            .map(|g| format!(
                "; the best held-out −ELBO improved {:.2} % in the last {RECENT_EPOCHS} epochs",
                100.0 * g
            ))
            .unwrap_or_default()
    );
    // With early stopping the best held-out weights are kept, however training ended.
    if let Some(weights) = best_weights.filter(|_| report.best_epoch.is_some_and(|b| b + 1 < report.epochs.len())) {
        restore_weights(model, &weights);
        log::info!("kept the weights of epoch {} (best held-out −ELBO {best:.4})", report.best_epoch.unwrap_or(0) + 1);
    }
    // z1 names the content latent along which windows leave the bulk most (judged
    // on at most 2048 windows spread over the movie, or the first unit when streamed).
    let sample = match &resident {
        Some(block) => {
            let rows: Vec<i64> =
                crate::analysis::spread_sample(n, 2 * ROWS_PER_UNIT).iter().map(|&i| i as i64).collect();
            block.x.index_select(0, &Tensor::from_slice(&rows).to_device(device))
        }
        None => source.rows(0, ROWS_PER_UNIT.min(n))?.to_device(device),
    };
    report.one_sided = model.order_content_latents(&sample).into_iter().collect();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::{anneal_progress, even_passes, EpochRecord, RvaeTrainReport};
    use crate::rvae::ElboTerms;

    #[test]
    fn recent_gain_compares_the_best_of_the_last_epochs_with_the_best_before() {
        let with = |held: &[f64]| RvaeTrainReport {
            epochs: held
                .iter()
                .enumerate()
                .map(|(epoch, &h)| EpochRecord {
                    epoch,
                    train: ElboTerms::default(),
                    holdout: Some(ElboTerms { neg_elbo: h, ..ElboTerms::default() }),
                    seconds: 1.0,
                    learning_rate: 1e-3,
                })
                .collect(),
            ..RvaeTrainReport::default()
        };
        // Best before the last 3: 10; best of all: 9 → 10 %.
        let gain = with(&[12.0, 10.0, 11.0, 9.5, 9.0, 9.8]).gain_over_last(3).unwrap();
        assert!((gain - 0.1).abs() < 1e-12, "{gain}");
        // Worse at the end: no gain (0), not a loss.
        assert_eq!(with(&[12.0, 10.0, 11.0, 10.5]).gain_over_last(2), Some(0.0));
        // Too few epochs to judge.
        assert_eq!(with(&[12.0, 10.0]).gain_over_last(2), None);
    }

    #[test]
    fn anneal_ends_with_the_epochs_or_the_budget_whichever_is_first() {
        // Epochs only: warm-up of 10, 30 epochs → 20 annealed, from 0 to 19/20.
        assert_eq!(anneal_progress(10, 10, 30, 0.0, None), 0.0);
        assert!((anneal_progress(29, 10, 30, 95.0, None) - 0.95).abs() < 1e-12);
        // A budget of 100 s after the warm-up ends it sooner: half-way after 50 s.
        assert!((anneal_progress(20, 10, 1000, 50.0, Some(100.0)) - 0.5).abs() < 1e-12);
        assert_eq!(anneal_progress(40, 10, 1000, 150.0, Some(100.0)), 1.0);
        // Progress never falls, whatever the clock does.
        let mut last = 0.0;
        for e in 10..30 {
            let p = anneal_progress(e, 10, 30, (e - 10) as f64 * 5.0, Some(1e6));
            assert!(p >= last);
            last = p;
        }
    }

    #[test]
    fn passes_cover_the_batch_once_in_nearly_equal_parts() {
        for (batch, micro) in [(25, 18), (100, 18), (7, 18), (36, 18), (1, 1), (10, 3)] {
            let passes: Vec<(i64, i64)> = even_passes(batch, micro).collect();
            let mut next = 0;
            for &(start, len) in &passes {
                assert_eq!(start, next, "{batch}/{micro}: contiguous");
                assert!(len >= 1 && len <= micro, "{batch}/{micro}: {len}");
                next = start + len;
            }
            assert_eq!(next, batch);
            assert_eq!(passes.len() as i64, (batch + micro - 1) / micro);
            let (lo, hi) = passes.iter().fold((i64::MAX, 0), |(a, b), p| (a.min(p.1), b.max(p.1)));
            assert!(hi - lo <= 1, "{batch}/{micro}: {passes:?}");
        }
    }
}
