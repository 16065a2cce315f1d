//! Training the U-Net on simulated frames (paper, Methods "Deep learning": the DCNN
//! is trained on simulated images with augmentation). Every patch is a fresh
//! simulation with random dose, probe width, pixel size (zoom), defects, holes and
//! contamination, resampled to the model's grid by the same code as inference, then
//! flipped/rotated, gamma- and blur-augmented and noised. Cross-entropy with a
//! heavier weight for the rare Si class, Adam. A second thread simulates the next
//! batches while the first trains; the data stream is a pure function of the seed.

use std::sync::mpsc;

use ndarray::{s, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{ModuleT, OptimizerConfig};
use tch::{nn, Tensor};

use super::infer::normalize;
use super::resample::{resize, to_resampled};
use super::{SegmentError, Segmenter, SegmenterConfig};
use crate::progress::Progress;
use crate::sim::{gaussian_blur, label_mask, simulate_frame, SimParams, TruthAtom};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmenterTrainConfig {
    pub epochs: usize,
    pub batches_per_epoch: usize,
    /// Patches per batch.
    pub batch: usize,
    /// Patch edge on the model's grid (px).
    pub patch: usize,
    pub learning_rate: f64,
    /// Cross-entropy weight of the Si class (background and C weigh 1).
    pub si_weight: f64,
    /// Held-out batches (from an independent stream) scored after every epoch.
    pub holdout_batches: usize,
    /// Range of pixel sizes (Å/px) of the simulated frames before resampling.
    pub pixel_size_range: [f64; 2],
    /// Range of doses (counts per C peak), drawn log-uniformly.
    pub dose_range: [f64; 2],
    pub seed: u64,
    /// The learning rate drops by `lr_decay` for the last quarter of the epochs.
    pub lr_decay: f64,
}

impl Default for SegmenterTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            batches_per_epoch: 100,
            batch: 8,
            patch: 128,
            learning_rate: 1e-3,
            si_weight: 4.0,
            holdout_batches: 4,
            pixel_size_range: [0.07, 0.25],
            dose_range: [8.0, 150.0],
            seed: 0,
            lr_decay: 0.2,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainReport {
    pub train_loss: Vec<f64>,
    pub holdout_loss: Vec<f64>,
    pub patches_per_second: f64,
}

fn log_uniform(rng: &mut ChaCha8Rng, [lo, hi]: [f64; 2]) -> f64 {
    (rng.gen_range(lo.ln()..=hi.ln())).exp()
}

/// Random simulation parameters for one training patch covering `extent` Å.
fn random_sim_params(rng: &mut ChaCha8Rng, pixel_size: f64, side: usize, config: &SegmenterTrainConfig) -> SimParams {
    // Amorphous contamination is where a network is most tempted to see atoms, so
    // half of the patches carry some.
    let contamination = if rng.gen_bool(0.5) { rng.gen_range(1..=2) } else { 0 };
    SimParams {
        height: side,
        width: side,
        pixel_size,
        probe_sigma: rng.gen_range(0.5..0.75),
        dose: log_uniform(rng, config.dose_range),
        read_noise: rng.gen_range(0.0..0.1),
        background: rng.gen_range(0.0..0.1),
        z_exponent: rng.gen_range(1.5..1.9),
        si_fraction: rng.gen_range(0.0..0.08),
        vacancy_fraction: rng.gen_range(0.0..0.03),
        holes: rng.gen_range(0..=2),
        hole_radius: [3.0, 10.0],
        grains: if rng.gen_bool(0.3) { rng.gen_range(2..=3) } else { 1 },
        stone_wales: rng.gen_range(0..=2),
        contamination,
        contamination_radius: rng.gen_range(4.0..14.0),
        rotation: None,
        line_jitter: rng.gen_range(0.0..0.3),
        drift: rng.gen_range(-2.0..2.0),
        label_radius: 0.5,
        // The embedded model was trained without the simulator's probe tails and
        // bright contamination: a model trained with them (issue 14 §1) found more Si
        // at the contamination rim of a real frame (docs/MODELS.md).
        ..SimParams::default()
    }
}

/// One augmented, normalised training patch on the model's grid and its labels.
pub fn training_pair(
    rng: &mut ChaCha8Rng,
    model: &SegmenterConfig,
    config: &SegmenterTrainConfig,
) -> Result<(Array2<f32>, Array2<u8>), SegmentError> {
    let patch = config.patch;
    let sim_px = log_uniform(rng, config.pixel_size_range);
    let side = (patch as f64 * model.pixel_size / sim_px).ceil() as usize;
    let params = random_sim_params(rng, sim_px, side, config);
    let frame = simulate_frame(&params, rng.gen())?;
    let mut img = resize(frame.image.view(), patch, patch);
    let scale = (patch as f64 / side as f64, patch as f64 / side as f64);
    let atoms: Vec<TruthAtom> = frame
        .atoms
        .iter()
        .map(|a| {
            let (y, x) = to_resampled(a.y as f64, a.x as f64, scale);
            TruthAtom { y: y as f32, x: x as f32, ..*a }
        })
        .collect();
    let grid = SimParams { height: patch, width: patch, pixel_size: sim_px / scale.0, label_radius: 0.5, ..params };
    let mut labels = label_mask(&atoms, &grid);
    if rng.gen_bool(0.5) {
        let gamma = rng.gen_range(0.7..1.4);
        img.mapv_inplace(|v| v.max(0.0).powf(gamma));
    }
    if rng.gen_bool(0.3) {
        img = gaussian_blur(&img, rng.gen_range(0.3..1.0));
    }
    normalize(&mut img)?;
    let extra_noise = rng.gen_range(0.0..0.06f32);
    if extra_noise > 0.0 {
        let n = rand_distr::Normal::new(0.0f32, extra_noise).expect("σ > 0");
        img.mapv_inplace(|v| v + rng.sample(n));
    }
    // Dihedral symmetry: the lattice has no preferred orientation or handedness.
    let turns = rng.gen_range(0..4);
    for _ in 0..turns {
        img = img.t().slice(s![.., ..;-1]).to_owned();
        labels = labels.t().slice(s![.., ..;-1]).to_owned();
    }
    if rng.gen_bool(0.5) {
        img.invert_axis(Axis(1));
        labels.invert_axis(Axis(1));
    }
    Ok((img.as_standard_layout().to_owned(), labels.as_standard_layout().to_owned()))
}

struct Batch {
    images: Vec<f32>,
    labels: Vec<i64>,
}

fn make_batch(
    rng: &mut ChaCha8Rng,
    model: &SegmenterConfig,
    config: &SegmenterTrainConfig,
) -> Result<Batch, SegmentError> {
    let mut images = Vec::with_capacity(config.batch * config.patch * config.patch);
    let mut labels = Vec::with_capacity(images.capacity());
    for _ in 0..config.batch {
        let (img, lab) = training_pair(rng, model, config)?;
        images.extend(img.iter());
        labels.extend(lab.iter().map(|&l| l as i64));
    }
    Ok(Batch { images, labels })
}

fn to_tensors(batch: &Batch, config: &SegmenterTrainConfig, device: tch::Device) -> (Tensor, Tensor) {
    let (b, p) = (config.batch as i64, config.patch as i64);
    (
        Tensor::from_slice(&batch.images).reshape([b, 1, p, p]).to_device(device),
        Tensor::from_slice(&batch.labels).reshape([b, p, p]).to_device(device),
    )
}

/// Trains `segmenter` in place; `on_epoch` sees the model after every epoch (for
/// checkpoints) and may stop training by returning false.
pub fn train_segmenter(
    segmenter: &mut Segmenter,
    config: &SegmenterTrainConfig,
    progress: &mut dyn Progress,
    mut on_epoch: impl FnMut(usize, &Segmenter, &TrainReport) -> bool,
) -> Result<TrainReport, SegmentError> {
    if config.batch == 0
        || config.patch < (4 << segmenter.config.depth)
        || config.patch % (1 << segmenter.config.depth) != 0
    {
        return Err(SegmentError::BadInput(format!(
            "batch must be ≥ 1 and the patch a multiple of {} of at least {}",
            1 << segmenter.config.depth,
            4 << segmenter.config.depth
        )));
    }
    // The simulator labels background, C and Si: a model of other classes cannot
    // learn from its targets (and the class weights below are per those three).
    if segmenter.config.class_names.len() != crate::sim::CLASS_NAMES.len() {
        return Err(SegmentError::BadInput(format!(
            "training on simulated graphene needs the classes {:?}; the model has {:?}",
            crate::sim::CLASS_NAMES,
            segmenter.config.class_names
        )));
    }
    crate::device::tune_allocator();
    let device = segmenter.device;
    let model_cfg = segmenter.config.clone();
    let mut holdout_rng = ChaCha8Rng::seed_from_u64(config.seed);
    holdout_rng.set_stream(2);
    let holdout: Vec<Batch> = (0..config.holdout_batches)
        .map(|_| make_batch(&mut holdout_rng, &model_cfg, config))
        .collect::<Result<_, _>>()?;
    let weights = Tensor::from_slice(&[1.0f32, 1.0, config.si_weight as f32]).to_device(device);
    let mut opt = nn::Adam::default()
        .build(&segmenter.vs, config.learning_rate)
        .map_err(|e| SegmentError::Torch(e.to_string()))?;
    let total = config.epochs * config.batches_per_epoch;
    let (tx, rx) = mpsc::sync_channel::<Result<Batch, SegmentError>>(2);
    let (producer_cfg, producer_model, seed) = (config.clone(), model_cfg.clone(), config.seed);
    let producer = std::thread::spawn(move || {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        for _ in 0..total {
            if tx.send(make_batch(&mut rng, &producer_model, &producer_cfg)).is_err() {
                return;
            }
        }
    });
    let mut report = TrainReport::default();
    let started = std::time::Instant::now();
    let mut done = 0usize;
    progress.start("train segmenter", total as u64);
    let outcome = (|| {
        for epoch in 0..config.epochs {
            if epoch == config.epochs - config.epochs / 4 && config.epochs >= 4 {
                opt.set_lr(config.learning_rate * config.lr_decay);
            }
            let mut sum = 0.0;
            for _ in 0..config.batches_per_epoch {
                if progress.cancelled() {
                    return Err(SegmentError::Cancelled);
                }
                let batch = rx.recv().map_err(|_| SegmentError::Torch("training data thread stopped".into()))??;
                let (x, y) = to_tensors(&batch, config, device);
                let logits = segmenter.net.forward_t(&x, true);
                let loss = logits.cross_entropy_loss(&y, Some(&weights), tch::Reduction::Mean, -100, 0.0);
                opt.backward_step(&loss);
                sum += loss.double_value(&[]);
                done += 1;
                progress.advance(1);
            }
            let holdout_loss = tch::no_grad(|| {
                let total: f64 = holdout
                    .iter()
                    .map(|b| {
                        let (x, y) = to_tensors(b, config, device);
                        let logits = segmenter.net.forward_t(&x, false);
                        logits.cross_entropy_loss(&y, Some(&weights), tch::Reduction::Mean, -100, 0.0).double_value(&[])
                    })
                    .sum();
                total / holdout.len().max(1) as f64
            });
            report.train_loss.push(sum / config.batches_per_epoch as f64);
            report.holdout_loss.push(holdout_loss);
            report.patches_per_second = (done * config.batch) as f64 / started.elapsed().as_secs_f64();
            log::info!(
                "epoch {}/{}: train loss {:.4}, held-out loss {:.4}, {:.1} patches/s",
                epoch + 1,
                config.epochs,
                report.train_loss[epoch],
                holdout_loss,
                report.patches_per_second
            );
            if !on_epoch(epoch, segmenter, &report) {
                break;
            }
        }
        Ok(())
    })();
    progress.finish();
    drop(rx);
    let _ = producer.join();
    outcome.map(|_| report)
}
