//! Order parameters of an encoded simulated movie scored against its `/truth`
//! (`crate::analysis::order`): the stored latents, and — for the spread over
//! training seeds — rVAEs trained afresh with the stored model's recipe, whose
//! latents are scored in memory and never written.

use serde::Serialize;

use super::windows::StoredWindows;
use super::{h5, PipelineError};
use crate::analysis::order::{score_order_parameters, EncodedWindows, OrderScores, TruthAtoms};
use crate::progress::Progress;
use crate::rvae::{train_rvae_rows, Latents, Rvae, RvaeTrainConfig, WindowRows, ROWS_PER_UNIT};
use crate::store::{AnalysisFile, StoreError};

/// `/truth/atoms` of a simulated movie.
pub fn read_truth_atoms(file: &AnalysisFile) -> Result<TruthAtoms, PipelineError> {
    let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
    let atoms = reader.group("truth/atoms").map_err(|_| {
        PipelineError::Missing(format!(
            "{}: no /truth/atoms: order parameters can be scored on simulated movies only",
            file.path().display()
        ))
    })?;
    let column = |name: &str| {
        atoms.dataset(name).map_err(|_| {
            PipelineError::Missing(format!(
                "{}: /truth/atoms/{name} is missing (a movie simulated by an older atomvae); simulate it again",
                file.path().display()
            ))
        })
    };
    Ok(TruthAtoms {
        frame: column("frame")?.read_raw().map_err(h5(file))?,
        y: column("y")?.read_raw().map_err(h5(file))?,
        x: column("x")?.read_raw().map_err(h5(file))?,
        grain: column("grain")?.read_raw().map_err(h5(file))?,
        sublattice: column("sublattice")?.read_raw().map_err(h5(file))?,
    })
}

/// The atom (frame, y, x) of every window in `/subimages`.
pub struct WindowAtoms {
    pub frame: Vec<u32>,
    pub y: Vec<f32>,
    pub x: Vec<f32>,
}

pub fn read_window_atoms(file: &AnalysisFile) -> Result<WindowAtoms, PipelineError> {
    let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
    let sub = reader.group("subimages").map_err(|_| {
        PipelineError::Missing(format!("{}: no /subimages yet; run `subimages` first", file.path().display()))
    })?;
    Ok(WindowAtoms {
        frame: sub.dataset("frame").and_then(|d| d.read_raw()).map_err(h5(file))?,
        y: sub.dataset("y").and_then(|d| d.read_raw()).map_err(h5(file))?,
        x: sub.dataset("x").and_then(|d| d.read_raw()).map_err(h5(file))?,
    })
}

/// The latent means in `/latents` and their column names.
pub struct StoredLatents {
    pub mean: ndarray::Array2<f32>,
    pub names: Vec<String>,
}

pub fn read_latent_means(file: &AnalysisFile) -> Result<StoredLatents, PipelineError> {
    let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
    let latents = reader.group("latents").map_err(|_| {
        PipelineError::Missing(format!("{}: no /latents yet; run `encode` first", file.path().display()))
    })?;
    let mean: ndarray::Array2<f32> = latents.dataset("mean").and_then(|d| d.read_2d()).map_err(h5(file))?;
    let names: Vec<String> = crate::store::read_str_attr(&latents, "columns")
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(|| PipelineError::Missing("/latents has no column names".into()))?;
    Ok(StoredLatents { mean, names })
}

fn score(file: &AnalysisFile, mean: &ndarray::Array2<f32>, names: &[String]) -> Result<OrderScores, PipelineError> {
    let truth = read_truth_atoms(file)?;
    let atoms = read_window_atoms(file)?;
    let windows = EncodedWindows { frame: &atoms.frame, y: &atoms.y, x: &atoms.x, means: mean.view(), names };
    Ok(score_order_parameters(&windows, &truth, file.info().pixel_size)?)
}

/// Scores the latents stored in `/latents`.
pub fn score_stored_latents(file: &AnalysisFile) -> Result<OrderScores, PipelineError> {
    let latents = read_latent_means(file)?;
    score(file, &latents.mean, &latents.names)
}

/// Every window of `windows` encoded with `model`, a block at a time, with progress
/// and cancel between blocks.
pub fn encode_windows(
    model: &Rvae,
    windows: &StoredWindows,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<Latents, PipelineError> {
    let mut parts = Vec::new();
    let step = 16 * ROWS_PER_UNIT;
    progress.start("encode", windows.count() as u64);
    for start in (0..windows.count()).step_by(step) {
        if progress.cancelled() {
            return Err(StoreError::Cancelled.into());
        }
        let len = step.min(windows.count() - start);
        let x = windows.rows(start, len)?;
        parts.push(model.encode_tensor(&x.to_device(device)));
        progress.advance(len as u64);
    }
    progress.finish();
    Ok(Latents::concatenate(parts)?)
}

/// The scores of one training seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedScores {
    pub seed: u64,
    pub scores: OrderScores,
}

/// Trains one rVAE per seed with the recipe of the stored `/models/rvae` (its model
/// and training configuration, only the seed changed), encodes every window and
/// scores the latents; the file is not changed.
pub fn score_training_seeds(
    file: &AnalysisFile,
    seeds: &[u64],
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<Vec<SeedScores>, PipelineError> {
    let stored = file.read_model("rvae", Some(crate::rvae::MODEL_KIND)).map_err(|_| {
        PipelineError::Missing(format!(
            "{}: no trained rVAE to take the recipe from; run `train-rvae` first",
            file.path().display()
        ))
    })?;
    let recipe = Rvae::from_stored(&stored, device)?.config().clone();
    let train_config: RvaeTrainConfig = stored
        .config
        .get("training")
        .and_then(|t| t.get("train_config"))
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .ok_or_else(|| PipelineError::Missing("the stored rVAE does not record its training configuration".into()))?;
    let windows = StoredWindows::open(file)?;
    let mut out = Vec::new();
    for &seed in seeds {
        let config = RvaeTrainConfig { seed, ..train_config.clone() };
        let mut model = Rvae::new_seeded(recipe.clone(), device, seed)?;
        train_rvae_rows(&mut model, &windows, &config, progress)?;
        let latents = encode_windows(&model, &windows, device, progress)?;
        out.push(SeedScores { seed, scores: score(file, &latents.mean, &latents.names)? });
    }
    Ok(out)
}

/// Mean, smallest and largest of one score over seeds (NaNs left out).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self { mean: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        Self {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// The goals' three figures over training seeds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct SeedSpread {
    pub sublattice_accuracy: Spread,
    pub z1_auc_sign_free: Spread,
    pub dynamics_r_sign_free: Spread,
    pub distance_auc: Spread,
    pub distance_dynamics_r: Spread,
}

impl SeedSpread {
    pub fn of(runs: &[SeedScores]) -> Self {
        Self {
            sublattice_accuracy: Spread::of(runs.iter().map(|r| r.scores.sublattice_accuracy)),
            z1_auc_sign_free: Spread::of(runs.iter().map(|r| r.scores.z1_auc.auc_sign_free)),
            dynamics_r_sign_free: Spread::of(runs.iter().map(|r| r.scores.dynamics_r_sign_free)),
            distance_auc: Spread::of(runs.iter().map(|r| r.scores.distance_auc.auc)),
            distance_dynamics_r: Spread::of(runs.iter().map(|r| r.scores.distance_dynamics_r)),
        }
    }
}
