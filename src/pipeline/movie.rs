//! Step 0 and the whole chain: a new analysis file from a movie, and a movie
//! taken through every step (import → segment → atoms → subimages → train-rvae →
//! encode → analysis) — what `atomvae analyze` and `atomvae_analyze_movie` run.

use std::path::Path;

use super::{
    analyse_latents_file, cut_windows_file, encode_file, find_atoms_file, segment_file, train_rvae_file, PipelineError,
};
use crate::analysis::AnalysisConfig;
use crate::progress::Progress;
use crate::rvae::{RvaeConfig, RvaeTrainConfig};
use crate::segment::{AtomFinderConfig, Segmenter};
use crate::store::{now_utc, AnalysisFile, FrameStack, StepRecord};
use crate::subimages::WindowConfig;

/// Step 0: a new analysis file at `out` from a movie (`.npy`, `.tif/.tiff`, or
/// `.h5` with `dataset`). The pixel size (Å/px) is `pixel_size` or the file's
/// own; with neither it stops rather than guess.
pub fn import_movie(
    movie: &Path,
    dataset: Option<&str>,
    out: &Path,
    pixel_size: Option<f64>,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<AnalysisFile, PipelineError> {
    let started = now_utc();
    let mut stack = FrameStack::open(movie, dataset)?;
    let pixel_size = pixel_size.or_else(|| stack.pixel_size()).ok_or_else(|| {
        PipelineError::Missing(format!(
            "{}: the file does not say its pixel size; pass --pixel-size in Å/px (the `pixel_size` \
             argument through the library): atomvae does not guess",
            movie.display()
        ))
    })?;
    let record = StepRecord {
        step: "import".into(),
        parameters: serde_json::json!({
            "movie": movie.display().to_string(),
            "dataset": dataset,
            "pixel_size": pixel_size,
        }),
        started,
        finished: now_utc(),
        device: "cpu".into(),
        seed,
    };
    let class_names: Vec<String> = crate::sim::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
    Ok(AnalysisFile::create_from_stack(out, &mut stack, pixel_size, &class_names, &record, progress)?)
}

/// The settings of every step of [`analyze_movie`].
#[derive(Debug, Clone, Default)]
pub struct AnalyzeSettings {
    pub atoms: AtomFinderConfig,
    pub windows: WindowConfig,
    pub rvae: RvaeConfig,
    pub training: RvaeTrainConfig,
    pub analysis: AnalysisConfig,
}

/// A movie through every step into the analysis file `out`.
#[allow(clippy::too_many_arguments)]
pub fn analyze_movie(
    movie: &Path,
    dataset: Option<&str>,
    out: &Path,
    pixel_size: Option<f64>,
    segmenter: &Segmenter,
    settings: &AnalyzeSettings,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<AnalysisFile, PipelineError> {
    let seed = settings.training.seed;
    let mut file = import_movie(movie, dataset, out, pixel_size, seed, progress)?;
    segment_file(&mut file, segmenter, seed, progress)?;
    find_atoms_file(&mut file, &settings.atoms, progress)?;
    cut_windows_file(&mut file, &settings.windows, progress)?;
    train_rvae_file(&mut file, &settings.rvae, &settings.training, device, progress)?;
    encode_file(&mut file, device)?;
    analyse_latents_file(&mut file, &settings.analysis, device, progress)?;
    Ok(file)
}
