//! `train-rvae`: the arguments of the rotationally invariant VAE and its training,
//! their conversion into `RvaeConfig`/`RvaeTrainConfig`, and the training run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use atomvae::progress::CancelFlag;
use atomvae::rvae::{EncoderKind, Precision, RvaeConfig, RvaeTrainConfig};
use atomvae::store::AnalysisFile;

use crate::common::{parse_choice, CommonArgs};
use crate::progress::BarProgress;

#[derive(Args)]
pub struct TrainRvaeArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// Epochs.
    #[arg(long, default_value_t = RvaeTrainConfig::default().epochs)]
    epochs: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = RvaeTrainConfig::default().batch)]
    batch: usize,
    /// Windows per forward/backward pass inside a batch (0 = automatic; same result).
    #[arg(long, default_value_t = RvaeTrainConfig::default().micro_batch)]
    micro_batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = RvaeTrainConfig::default().learning_rate)]
    learning_rate: f64,
    /// Fraction of windows held out for the held-out −ELBO.
    #[arg(long, default_value_t = RvaeTrainConfig::default().holdout_fraction)]
    holdout: f64,
    /// Stop after this many epochs without a 0.1 % held-out improvement (0 = never);
    /// the best held-out weights are kept.
    #[arg(long, default_value_t = 0)]
    early_stop: usize,
    /// Halve the learning rate after this many epochs without a 0.1 % held-out
    /// improvement (0 = never).
    #[arg(long, default_value_t = 0)]
    lr_decay: usize,
    /// After the KL warm-up, lower the learning rate linearly towards 0 by the last epoch
    /// or the end of --time-budget, whichever is first (replaces --lr-decay).
    #[arg(long)]
    anneal: bool,
    /// Stop after the epoch that ends past this many seconds (0 = no limit).
    #[arg(long, default_value_t = 0.0)]
    time_budget: f64,
    /// Content latents.
    #[arg(long, default_value_t = RvaeConfig::default().latent_dim)]
    latent_dim: usize,
    /// Width s_γ of the rotation prior (rad).
    #[arg(long, default_value_t = RvaeConfig::default().rotation_prior)]
    rotation_prior: f64,
    /// Scale of the translation latents on the [−1, 1] window grid.
    #[arg(long, default_value_t = RvaeConfig::default().translation_prior)]
    translation_prior: f64,
    /// No translation latents.
    #[arg(long)]
    no_translation: bool,
    /// Factor on the decoder's coordinates (1 = AtomAI's [−1, 1] grid; larger
    /// learns a lattice of several periods per window sooner).
    #[arg(long, default_value_t = RvaeConfig::default().coordinate_scale)]
    coordinate_scale: f64,
    /// Encode and reconstruct only the disc inscribed in each window (turns of the
    /// grid then lose nothing; recommended for lattices).
    #[arg(long)]
    disc: bool,
    /// Weight β of the KL terms of the content and shift latents (1 = the ELBO; more
    /// makes content latents costlier, so that rotations are explained by the angle).
    #[arg(long, default_value_t = RvaeConfig::default().kl_weight)]
    kl_weight: f64,
    /// Encoder: mlp (two tanh layers of 128, for probability windows) or conv (raw windows).
    #[arg(long, default_value = "mlp", value_parser = parse_choice::<EncoderKind>)]
    encoder: EncoderKind,
    /// Decoder arithmetic: auto (bf16 where the CPU multiplies it natively), fp32 or bf16.
    #[arg(long, default_value = "auto", value_parser = parse_choice::<Precision>)]
    precision: Precision,
    /// Epochs at the start during which the content/shift KL weighs --kl-warmup-weight
    /// (lets the angle take the turns of the motif first; 0 = off).
    #[arg(long, default_value_t = RvaeTrainConfig::default().kl_warmup_epochs)]
    kl_warmup_epochs: usize,
    /// KL weight of the content and shift latents during the warm-up epochs.
    #[arg(long, default_value_t = RvaeTrainConfig::default().kl_warmup_weight)]
    kl_warmup_weight: f64,
    /// Windows per batch during the warm-up epochs (0 = --batch).
    #[arg(long, default_value_t = RvaeTrainConfig::default().kl_warmup_batch)]
    kl_warmup_batch: usize,
    /// Warm-ups tried from different initial weights (1 = just one): the model's own
    /// run is set aside after its warm-up, and training restarts from another try's
    /// initial weights, when that try ended its warm-up > 10 % lower in held-out −ELBO.
    #[arg(long, default_value_t = RvaeTrainConfig::default().kl_warmup_tries)]
    kl_warmup_tries: usize,
    /// Whole training runs tried from other initial weights (1 = just one) while
    /// z1 sets the windows far from the bulk apart from the rest with ROC AUC < 0.9;
    /// the most one-sided run is kept. Tries start only while --time-budget holds
    /// another run.
    #[arg(long, default_value_t = RvaeTrainConfig::default().one_sided_tries)]
    one_sided_tries: usize,
    /// MiB of windows held in memory at once; larger window sets are streamed from
    /// the file in shuffled blocks every epoch.
    #[arg(long, default_value_t = RvaeTrainConfig::default().resident_mib)]
    resident_mib: usize,
    /// libtorch threads (0 = libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: i32,
    #[command(flatten)]
    common: CommonArgs,
}

impl From<&TrainRvaeArgs> for RvaeConfig {
    fn from(a: &TrainRvaeArgs) -> Self {
        RvaeConfig {
            latent_dim: a.latent_dim,
            rotation_prior: a.rotation_prior,
            translation_prior: a.translation_prior,
            translation: !a.no_translation,
            coordinate_scale: a.coordinate_scale,
            kl_weight: a.kl_weight,
            disc: a.disc,
            encoder: a.encoder,
            ..RvaeConfig::default()
        }
    }
}

impl From<&TrainRvaeArgs> for RvaeTrainConfig {
    fn from(a: &TrainRvaeArgs) -> Self {
        RvaeTrainConfig {
            epochs: a.epochs,
            batch: a.batch,
            micro_batch: a.micro_batch,
            learning_rate: a.learning_rate,
            holdout_fraction: a.holdout,
            early_stop_patience: a.early_stop,
            lr_decay_patience: a.lr_decay,
            anneal: a.anneal,
            time_budget_s: a.time_budget,
            precision: a.precision,
            resident_mib: a.resident_mib,
            kl_warmup_epochs: a.kl_warmup_epochs,
            kl_warmup_weight: a.kl_warmup_weight,
            kl_warmup_batch: a.kl_warmup_batch,
            kl_warmup_tries: a.kl_warmup_tries,
            one_sided_tries: a.one_sided_tries,
            seed: a.common.seed,
        }
    }
}

pub fn train_rvae(args: &TrainRvaeArgs, cancel: &CancelFlag) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    let mut file = AnalysisFile::open(&args.file)?;
    let device = args.common.device.resolve()?;
    let model = RvaeConfig::from(args);
    let training = RvaeTrainConfig::from(args);
    let (_, report) =
        atomvae::pipeline::train_rvae_file(&mut file, &model, &training, device, &mut BarProgress::new(cancel))?;
    if let Some(last) = report.epochs.last() {
        log::info!(
            "rVAE trained: −ELBO {:.3} train{}, {:.0} windows/s",
            last.train.neg_elbo,
            last.holdout.map(|h| format!(", {:.3} held out", h.neg_elbo)).unwrap_or_default(),
            report.windows_per_second
        );
    }
    Ok(())
}
