//! Step 0 and the whole chain: a new analysis file from a movie, and a movie
//! taken through every step (import → segment → atoms → subimages → train-rvae →
//! encode → analysis) — what `atomvae analyze` and `atomvae_analyze_movie` run.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    analyse_latents_file, cut_windows_file, encode_file, find_atoms_file, segment_file, train_rvae_file, PipelineError,
};
use crate::analysis::AnalysisConfig;
use crate::progress::Progress;
use crate::rvae::{RvaeConfig, RvaeTrainConfig};
use crate::segment::{AtomFinderConfig, Segmenter};
use crate::store::{now_utc, AnalysisFile, FrameStack, StepRecord, StoreError};
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
    let mut file = AnalysisFile::create_from_stack(out, &mut stack, pixel_size, &class_names, &record, progress)?;
    // A simulated movie's truth travels with its frames (not with another dataset's).
    let is_h5 = movie.extension().is_some_and(|e| e == "h5" || e == "hdf5");
    let has_truth = is_h5 && hdf5::File::open(movie).is_ok_and(|f| f.link_exists("truth/atoms"));
    if has_truth && dataset.is_none_or(|d| d.trim_start_matches('/') == "frames") {
        file.update(&record, |out| crate::store::copy_truth_atoms(movie, out).map(drop))?;
        log::info!("carried the simulator's /truth/atoms into {}", out.display());
    }
    Ok(file)
}

/// A segmentation model: the embedded one (`None`), a model file of
/// `train-segmenter` (`.h5`) or its compact bytes (any other name).
pub fn load_segmenter(model: Option<&Path>, device: tch::Device) -> Result<Segmenter, PipelineError> {
    Ok(match model {
        None => Segmenter::embedded(device)?,
        Some(p) if p.extension().is_some_and(|e| e == "h5" || e == "hdf5") => {
            let stored = crate::store::load_model_file(p, None, Some(crate::segment::MODEL_KIND))?;
            Segmenter::from_stored(&stored, device)?
        }
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| StoreError::io(p, e))?;
            Segmenter::from_bytes(&bytes, device)
                .map_err(|e| crate::segment::SegmentError::BadModel(format!("{}: {e}", p.display())))?
        }
    })
}

/// The settings of every step of [`analyze_movie`], as one JSON-able value so that
/// the CLI, the C ABI and the Python package share them (and can grow them without
/// breaking callers: a missing field keeps its preset's value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeSettings {
    pub atoms: AtomFinderConfig,
    pub windows: WindowConfig,
    pub rvae: RvaeConfig,
    pub training: RvaeTrainConfig,
    pub analysis: AnalysisConfig,
}

/// The named starting points of [`AnalyzeSettings`].
pub const PRESETS: [&str; 2] = ["recipe", "paper"];

impl AnalyzeSettings {
    /// `"recipe"`: what the analysis test and the demo proved on graphene — the
    /// paper's 4 Å windows (an atom and its three neighbours) centred bilinearly
    /// and averaged down to 0.2 Å/px where frames are sampled finer (20² px
    /// whatever the microscope's sampling), the inscribed disc, no shift latents,
    /// the decoder's coordinates ×3, batches of 25 at lr 2e-3, the content KL
    /// weighed 0.1 for the first 10 epochs (so that the content latents carry
    /// something before the decoder has learned to draw the mean motif without
    /// them: with the full KL from the start they collapsed to the prior, KL
    /// 0.001 nats), then the learning rate annealed linearly from 2e-3 towards 0
    /// over what is left of 200 epochs or 10 minutes, whichever ends first,
    /// stopping sooner once the held-out −ELBO has not improved by 0.1 % for 10
    /// epochs, with the best held-out weights kept; trained again from other
    /// initial weights (up to three runs, while the budget holds another) when z1
    /// sets the windows far from the bulk apart on both sides of it. On the demo's
    /// movie (five seeds) a run converged in 45–63 epochs, about 2 minutes on 2
    /// cores; the angle split the bulk into its true sublattices (1.000) and the
    /// content latents' distance from the bulk mode ranked every disordered atom
    /// above every bulk one (ROC AUC 1.000); z1 alone, on the first run of each seed, in
    /// three of five (AUC 0.98–1.00); with the tries, 0.974–1.000 over three seeds
    /// on that movie and 0.944–1.000 on the seed-8 movie, whose defects fan out. `"paper"`: the paper's plain settings (4 Å windows
    /// rounded to the pixel, shifts on, no warm-up, lr 1e-4, 30 epochs).
    pub fn preset(name: &str) -> Result<Self, PipelineError> {
        match name {
            "paper" => Ok(Self::default()),
            "recipe" => {
                let mut s = Self::default();
                s.windows.size_angstrom = 4.0;
                s.windows.centring = crate::subimages::Centring::Bilinear;
                s.windows.sampling_angstrom = Some(0.2);
                s.rvae.disc = true;
                s.rvae.translation = false;
                // Annealed to the end of 200 epochs or 10 minutes of training, or
                // until the held-out −ELBO stops improving (best weights kept).
                s.training.epochs = 200;
                s.training.batch = 25;
                s.training.early_stop_patience = 10;
                s.training.time_budget_s = 600.0;
                s.training.learning_rate = 2e-3;
                s.training.anneal = true;
                s.rvae.coordinate_scale = 3.0;
                s.training.kl_warmup_epochs = 10;
                s.training.kl_warmup_weight = 0.1;
                s.training.one_sided_tries = 3;
                Ok(s)
            }
            other => Err(PipelineError::Missing(format!("no preset {other:?}: use one of {PRESETS:?}"))),
        }
    }

    /// Settings from JSON: the preset named by its `"preset"` field (default
    /// `"recipe"`) with every other field laid over it, e.g.
    /// `{"preset": "paper", "training": {"epochs": 5}}`. Unknown fields are refused.
    pub fn from_json(text: &str) -> Result<Self, PipelineError> {
        let bad = |e: serde_json::Error| PipelineError::Missing(format!("settings are not valid: {e}"));
        let mut given: serde_json::Value = serde_json::from_str(text).map_err(bad)?;
        let object =
            given.as_object_mut().ok_or_else(|| PipelineError::Missing("settings must be a JSON object".into()))?;
        let preset = match object.remove("preset") {
            None => "recipe".to_string(),
            Some(serde_json::Value::String(name)) => name,
            Some(other) => return Err(PipelineError::Missing(format!("preset must be a name, not {other}"))),
        };
        let mut merged = serde_json::to_value(Self::preset(&preset)?).map_err(bad)?;
        lay_over(&mut merged, given);
        serde_json::from_value(merged).map_err(bad)
    }
}

/// Replaces `base`'s fields by `top`'s, object by object.
fn lay_over(base: &mut serde_json::Value, top: serde_json::Value) {
    match (base, top) {
        (serde_json::Value::Object(b), serde_json::Value::Object(t)) => {
            for (key, value) in t {
                match b.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => lay_over(slot, value),
                    _ => {
                        b.insert(key, value);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

/// The demo's movie (`atomvae demo`, the order-parameter benchmark): 12 frames of
/// 51 Å square at 0.2 Å/px (the segmenter's own pixel size) with three growing
/// holes, 2 % vacancies and a patch of contamination.
pub fn demo_movie() -> (crate::sim::SimParams, crate::sim::MovieParams) {
    let sim = crate::sim::SimParams {
        height: 256,
        width: 256,
        pixel_size: 0.2,
        holes: 3,
        vacancy_fraction: 0.02,
        contamination: 1,
        ..Default::default()
    };
    (sim, crate::sim::MovieParams { frames: 12, ..Default::default() })
}

/// A simulated movie of Si-doped graphene (with its ground truth) written to `out`
/// (`.h5`: itself a valid analysis file; or `.npy`/`.tif`); returns the number of
/// atoms simulated. A cancelled run leaves nothing at `out`.
pub fn simulate_movie(
    sim: &crate::sim::SimParams,
    movie: &crate::sim::MovieParams,
    seed: u64,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<usize, PipelineError> {
    let simulator = crate::sim::Simulator::new(sim.clone(), movie.clone(), seed)?;
    let meta = crate::store::MovieMeta {
        pixel_size: sim.pixel_size,
        class_names: crate::sim::CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
        parameters: serde_json::json!({ "simulation": sim, "movie": movie }),
        seed,
        software: format!("atomvae {}", crate::VERSION),
        started: now_utc(),
    };
    let mut writer = crate::store::MovieWriter::create(out, [movie.frames, sim.height, sim.width], meta)?;
    progress.start("simulate", movie.frames as u64);
    let mut atoms = 0usize;
    for frame in simulator {
        if progress.cancelled() {
            return Err(StoreError::Cancelled.into());
        }
        writer.write_frame(frame.image.view(), Some(frame.labels.view()), &frame.atoms)?;
        atoms += frame.atoms.len();
        log::debug!("frame {}: {} atoms", frame.index, frame.atoms.len());
        progress.advance(1);
    }
    writer.finish()?;
    progress.finish();
    Ok(atoms)
}

/// The steps after import, in their order; each needs the results of the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Segment,
    Atoms,
    Subimages,
    TrainRvae,
    Encode,
    Analysis,
}

impl Step {
    pub const ALL: [Step; 6] =
        [Step::Segment, Step::Atoms, Step::Subimages, Step::TrainRvae, Step::Encode, Step::Analysis];

    /// The step's name, as the CLI's sub-command and the provenance record call it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Segment => "segment",
            Step::Atoms => "atoms",
            Step::Subimages => "subimages",
            Step::TrainRvae => "train-rvae",
            Step::Encode => "encode",
            Step::Analysis => "analysis",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, PipelineError> {
        Self::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            PipelineError::Missing(format!("no step {name:?}: the steps are {names:?}"))
        })
    }
}

/// Runs one step on an analysis file with its part of `settings`.
pub fn run_step(
    file: &mut AnalysisFile,
    step: Step,
    settings: &AnalyzeSettings,
    segmenter: &Segmenter,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<(), PipelineError> {
    match step {
        Step::Segment => segment_file(file, segmenter, settings.training.seed, progress),
        Step::Atoms => find_atoms_file(file, &settings.atoms, progress).map(drop),
        Step::Subimages => cut_windows_file(file, &settings.windows, progress).map(drop),
        Step::TrainRvae => train_rvae_file(file, &settings.rvae, &settings.training, device, progress).map(drop),
        Step::Encode => encode_file(file, device, progress).map(drop),
        Step::Analysis => analyse_latents_file(file, &settings.analysis, device, progress).map(drop),
    }
}

/// A new analysis file at `out` from frames in memory (the import step without a
/// movie file), e.g. a host application's image.
pub fn import_frames(
    frames: ndarray::Array3<f32>,
    pixel_size: f64,
    out: &Path,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<AnalysisFile, PipelineError> {
    let started = now_utc();
    let shape = frames.dim();
    let mut stack = FrameStack::from_array(frames, pixel_size, "(frames in memory)");
    let record = StepRecord {
        step: "import".into(),
        parameters: serde_json::json!({ "movie": null, "shape": [shape.0, shape.1, shape.2], "pixel_size": pixel_size }),
        started,
        finished: now_utc(),
        device: "cpu".into(),
        seed,
    };
    let class_names: Vec<String> = crate::sim::CLASS_NAMES.iter().map(|s| s.to_string()).collect();
    Ok(AnalysisFile::create_from_stack(out, &mut stack, pixel_size, &class_names, &record, progress)?)
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
    let mut file = import_movie(movie, dataset, out, pixel_size, settings.training.seed, progress)?;
    for step in Step::ALL {
        run_step(&mut file, step, settings, segmenter, device, progress)?;
    }
    Ok(file)
}
