//! `train-segmenter` and `evaluate-segmenter`: the U-Net's arguments, their
//! conversion into the library's configs, training with checkpoints, and scoring.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use atomvae::pipeline::{evaluate_segmenter, EvaluationFrames, MatchSettings};
use atomvae::progress::CancelFlag;
use atomvae::segment::{train_segmenter, AtomFinderConfig, Segmenter, SegmenterConfig, SegmenterTrainConfig};
use atomvae::sim::SimParams;

use crate::common::CommonArgs;
use crate::progress::BarProgress;

#[derive(Args)]
pub struct TrainSegmenterArgs {
    /// Model file to write (.h5); rewritten atomically after every epoch (checkpoint).
    #[arg(long)]
    out: PathBuf,
    /// Also write the compact form (what the library embeds) to this path.
    #[arg(long)]
    embed: Option<PathBuf>,
    /// Epochs (each ends with a held-out evaluation and a checkpoint).
    #[arg(long, default_value_t = SegmenterTrainConfig::default().epochs)]
    epochs: usize,
    /// Batches per epoch.
    #[arg(long, default_value_t = SegmenterTrainConfig::default().batches_per_epoch)]
    batches_per_epoch: usize,
    /// Patches per batch.
    #[arg(long, default_value_t = SegmenterTrainConfig::default().batch)]
    batch: usize,
    /// Patch edge on the model's grid (px).
    #[arg(long, default_value_t = SegmenterTrainConfig::default().patch)]
    patch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = SegmenterTrainConfig::default().learning_rate)]
    learning_rate: f64,
    /// Cross-entropy weight of the Si class.
    #[arg(long, default_value_t = SegmenterTrainConfig::default().si_weight)]
    si_weight: f64,
    /// Channels of the first U-Net level (doubling per level).
    #[arg(long, default_value_t = SegmenterConfig::default().base_channels)]
    base_channels: i64,
    /// Number of U-Net poolings.
    #[arg(long, default_value_t = SegmenterConfig::default().depth)]
    depth: usize,
    /// Pixel size the model works at (Å/px).
    #[arg(long, default_value_t = SegmenterConfig::default().pixel_size)]
    model_pixel_size: f64,
    /// libtorch threads (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: i32,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct EvaluateArgs {
    /// Model file (.h5 or compact bytes); default: the embedded model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Score every frame of this movie (`.h5` with `/frames`, `pixel_size_angstrom`
    /// and `/truth/atoms`, e.g. bench/multislice's dev set) instead of simulating.
    #[arg(long, conflicts_with_all = ["frames", "size", "dose", "pixel_size", "first_seed"])]
    movie: Option<PathBuf>,
    /// Write the per-frame and pooled scores to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Number of simulated frames.
    #[arg(long, default_value_t = 2)]
    frames: usize,
    /// Frame size in pixels: height width.
    #[arg(long, num_args = 2, action = clap::ArgAction::Set, value_names = ["H", "W"], default_values_t = [1024, 1024])]
    size: Vec<usize>,
    /// Dose (counts per C peak).
    #[arg(long, default_value_t = SimParams::default().dose)]
    dose: f64,
    /// Pixel size of the simulated frames (Å/px).
    #[arg(long, default_value_t = SimParams::default().pixel_size)]
    pixel_size: f64,
    /// Matching radius (Å) between found and true atoms.
    #[arg(long, default_value_t = 0.3)]
    match_radius: f64,
    /// The Si check of atom finding (see `atomvae atoms --help`); 0 scores the network alone.
    #[arg(long, default_value_t = AtomFinderConfig::default().si_min_ratio)]
    si_min_ratio: f64,
    /// Border (px) excluded from scoring.
    #[arg(long, default_value_t = 8.0)]
    border: f64,
    /// First simulation seed (training never uses seeds ≥ 1,000,000 of this stream).
    #[arg(long, default_value_t = 1_000_000)]
    first_seed: u64,
    #[command(flatten)]
    common: CommonArgs,
}

impl From<&TrainSegmenterArgs> for SegmenterConfig {
    fn from(a: &TrainSegmenterArgs) -> Self {
        SegmenterConfig {
            base_channels: a.base_channels,
            depth: a.depth,
            pixel_size: a.model_pixel_size,
            ..SegmenterConfig::default()
        }
    }
}

impl From<&TrainSegmenterArgs> for SegmenterTrainConfig {
    fn from(a: &TrainSegmenterArgs) -> Self {
        SegmenterTrainConfig {
            epochs: a.epochs,
            batches_per_epoch: a.batches_per_epoch,
            batch: a.batch,
            patch: a.patch,
            learning_rate: a.learning_rate,
            si_weight: a.si_weight,
            seed: a.common.seed,
            ..SegmenterTrainConfig::default()
        }
    }
}

/// The simulated frames `evaluate-segmenter` scores on (two holes, one blob of
/// contamination; each frame has its own seed).
impl From<&EvaluateArgs> for SimParams {
    fn from(a: &EvaluateArgs) -> Self {
        SimParams {
            height: a.size[0],
            width: a.size[1],
            dose: a.dose,
            pixel_size: a.pixel_size,
            holes: 2,
            contamination: 1,
            ..SimParams::default()
        }
    }
}

pub fn train(args: &TrainSegmenterArgs, cancel: &CancelFlag) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    let device = args.common.device.resolve()?;
    let model_cfg = SegmenterConfig::from(args);
    let train_cfg = SegmenterTrainConfig::from(args);
    let mut segmenter = Segmenter::new_seeded(model_cfg, device, args.common.seed)?;
    let mut progress = BarProgress::new(cancel);
    let mut save_error = None;
    let report = train_segmenter(&mut segmenter, &train_cfg, &mut progress, |epoch, model, report| {
        let mut stored = model.to_stored();
        stored.config["training"] = serde_json::json!({
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "train_config": train_cfg,
            "epochs_done": epoch + 1,
            "train_loss": report.train_loss,
            "holdout_loss": report.holdout_loss,
            "software": format!("atomvae {} (git {})", atomvae::VERSION, atomvae::GIT_COMMIT),
        });
        let saved = atomvae::store::save_model_file(&args.out, "segmenter", &stored)
            .map_err(anyhow::Error::from)
            .and_then(|_| match &args.embed {
                Some(p) => {
                    std::fs::write(p, stored.to_bytes()).with_context(|| format!("cannot write {}", p.display()))
                }
                None => Ok(()),
            });
        match saved {
            Ok(()) => true,
            Err(e) => {
                save_error = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = save_error {
        return Err(e);
    }
    log::info!(
        "trained {} epochs: held-out loss {:.4}, {:.1} patches/s; model in {}",
        report.train_loss.len(),
        report.holdout_loss.last().copied().unwrap_or(f64::NAN),
        report.patches_per_second,
        args.out.display()
    );
    Ok(())
}

pub fn evaluate(args: &EvaluateArgs, cancel: &CancelFlag) -> Result<()> {
    let device = args.common.device.resolve()?;
    let segmenter = atomvae::pipeline::load_segmenter(args.model.as_deref(), device)?;
    let params = SimParams::from(args);
    let frames = match &args.movie {
        Some(path) => EvaluationFrames::Movie(path),
        None => EvaluationFrames::Simulated { params: &params, first_seed: args.first_seed, count: args.frames },
    };
    let matching = MatchSettings { radius: args.match_radius, border: args.border };
    let mut progress = BarProgress::new(cancel);
    let finder = AtomFinderConfig { si_min_ratio: args.si_min_ratio, ..AtomFinderConfig::default() };
    let evaluation = evaluate_segmenter(&segmenter, frames, &finder, &matching, &mut progress)?;
    for f in &evaluation.frames {
        println!("frame {}: {:.3} s {}", f.frame, f.seconds, serde_json::to_string(&f.scores)?);
    }
    let p = &evaluation.pooled;
    println!(
        "all frames: atom precision {:.4}, recall {:.4}, F1 {:.4}, position error {:.3} Å; \
         Si precision {:.3}, recall {:.3} ({} found, {} true)",
        p.precision,
        p.recall,
        p.f1(),
        p.mean_error,
        p.si_precision,
        p.si_recall,
        p.si_found,
        p.si_true
    );
    if let Some(out) = &args.json {
        let text = serde_json::to_string_pretty(&evaluation)?;
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}
