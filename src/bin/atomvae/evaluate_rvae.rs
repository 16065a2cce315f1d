//! `evaluate-rvae`: the order parameters of an encoded simulated movie scored
//! against its ground truth (angle → sublattice, z1 → disorder, dynamics), for the
//! stored latents and, with `--seeds`, over fresh trainings.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use atomvae::device::DeviceChoice;
use atomvae::pipeline::{score_stored_latents, score_training_seeds, SeedSpread};
use atomvae::progress::CancelFlag;
use atomvae::store::AnalysisFile;

use crate::progress::BarProgress;

#[derive(Args)]
pub struct EvaluateRvaeArgs {
    /// An encoded analysis file of a simulated movie (it has /truth and /latents).
    pub file: PathBuf,
    /// Also train this many rVAEs afresh (seeds --seed, --seed + 1, …) with the stored
    /// model's recipe and report each one's scores and their spread; the file is not
    /// changed.
    #[arg(long, default_value_t = 0)]
    pub seeds: u64,
    /// First training seed of `--seeds`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Compute device for `--seeds`: auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Also write the scores as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

pub fn run(args: &EvaluateRvaeArgs, cancel: &CancelFlag) -> Result<()> {
    let file = AnalysisFile::open(&args.file)?;
    let stored = score_stored_latents(&file)?;
    println!(
        "stored latents: {} windows matched to true atoms ({} bulk, {} disordered), {} unmatched",
        stored.windows_matched, stored.bulk, stored.disordered, stored.windows_unmatched
    );
    println!("  angle → sublattice accuracy (bulk): {}  (goal ≥ 0.98)", pct(stored.sublattice_accuracy));
    println!(
        "  z1 → disorder ROC AUC: {} (sign-free {})  (goal ≥ 0.9)",
        pct(stored.z1_auc.auc),
        pct(stored.z1_auc.auc_sign_free)
    );
    for other in stored.content_auc.iter().filter(|a| a.latent != "z1") {
        println!("  {} → disorder ROC AUC: {} (sign-free {})", other.latent, pct(other.auc), pct(other.auc_sign_free));
    }
    println!(
        "  per-frame mean z1 vs disordered fraction, Pearson r: {} over {} frames  (goal |r| ≥ 0.9)",
        pct(stored.dynamics_r),
        stored.per_frame.len()
    );
    println!(
        "  distance of (z1, …) from the bulk mode: disorder ROC AUC {}, per-frame Pearson r {}",
        pct(stored.distance_auc.auc),
        pct(stored.distance_dynamics_r)
    );
    let mut json = serde_json::json!({"file": args.file, "stored": stored});
    if args.seeds > 0 {
        let seeds: Vec<u64> = (args.seed..args.seed + args.seeds).collect();
        let device = args.device.resolve()?;
        let runs = score_training_seeds(&file, &seeds, device, &mut BarProgress::new(cancel))?;
        for run in &runs {
            println!(
                "seed {}: sublattice {}  z1 AUC (sign-free) {}  dynamics |r| {}  distance AUC {} r {}",
                run.seed,
                pct(run.scores.sublattice_accuracy),
                pct(run.scores.z1_auc.auc_sign_free),
                pct(run.scores.dynamics_r_sign_free),
                pct(run.scores.distance_auc.auc),
                pct(run.scores.distance_dynamics_r)
            );
        }
        let spread = SeedSpread::of(&runs);
        println!(
            "over {} seeds (mean, min–max): sublattice {} ({}–{}), z1 AUC {} ({}–{}), dynamics |r| {} ({}–{})",
            runs.len(),
            pct(spread.sublattice_accuracy.mean),
            pct(spread.sublattice_accuracy.min),
            pct(spread.sublattice_accuracy.max),
            pct(spread.z1_auc_sign_free.mean),
            pct(spread.z1_auc_sign_free.min),
            pct(spread.z1_auc_sign_free.max),
            pct(spread.dynamics_r_sign_free.mean),
            pct(spread.dynamics_r_sign_free.min),
            pct(spread.dynamics_r_sign_free.max)
        );
        json["seeds"] = serde_json::to_value(&runs)?;
        json["spread"] = serde_json::to_value(spread)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
