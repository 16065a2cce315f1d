//! `analyze` (the whole chain on a movie), `report` (latent analysis and figures)
//! and `demo` (a simulated movie through `analyze`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use atomvae::analysis::AnalysisConfig;
use atomvae::device::DeviceChoice;
use atomvae::pipeline::AnalyzeSettings;
use atomvae::progress::CancelFlag;
use atomvae::segment::Segmenter;
use atomvae::store::AnalysisFile;

use crate::common::CommonArgs;
use crate::pipeline_steps::MovieArgs;
use crate::progress::BarProgress;

#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    movie: MovieArgs,
    #[command(flatten)]
    common: CommonArgs,
    /// Settings of every step: `recipe` (what works on graphene: 4 Å windows on
    /// their inscribed disc, no shift latents, a low content KL for the first
    /// epochs, trained until converged) or `paper` (the paper's plain settings).
    #[arg(long, default_value = "recipe")]
    preset: String,
    /// Settings laid over the preset, as JSON (the same as the C ABI's and
    /// Python's), e.g. '{"atoms": {"border": 8}, "training": {"epochs": 60}}'.
    #[arg(long)]
    settings: Option<String>,
    /// rVAE training epochs (default: the preset's).
    #[arg(long)]
    rvae_epochs: Option<usize>,
    /// Window edge in Å (default: the preset's).
    #[arg(long)]
    window_angstrom: Option<f64>,
    /// Folder for the figures (default: `<output stem>_report` next to it).
    #[arg(long)]
    report_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct ReportArgs {
    /// The analysis file (its /analysis is computed and stored when missing).
    file: PathBuf,
    /// Folder for the figures (default: `<file stem>_report` next to the file).
    #[arg(short, long)]
    out_dir: Option<PathBuf>,
    /// Compute /analysis again even when the file has one.
    #[arg(long)]
    reanalyse: bool,
    /// Epochs of the conv autoencoder and plain VAE baselines.
    #[arg(long, default_value_t = AnalysisConfig::default().baseline_epochs)]
    baseline_epochs: usize,
    /// Windows (at most, spread over the movie) the baselines and the window GMM see.
    #[arg(long, default_value_t = AnalysisConfig::default().baseline_windows)]
    baseline_windows: usize,
    /// Mixtures of 1 … this many components are compared by BIC.
    #[arg(long, default_value_t = AnalysisConfig::default().gmm_max_components)]
    gmm_max_components: usize,
    /// Bins of the latent histograms.
    #[arg(long, default_value_t = AnalysisConfig::default().bins)]
    bins: usize,
    #[command(flatten)]
    common: CommonArgs,
}

/// The settings of `analyze`: the preset, the JSON laid over it, then the flags.
impl TryFrom<&AnalyzeArgs> for AnalyzeSettings {
    type Error = anyhow::Error;

    fn try_from(args: &AnalyzeArgs) -> Result<Self> {
        let mut given: serde_json::Value =
            serde_json::from_str(args.settings.as_deref().unwrap_or("{}")).context("--settings is not JSON")?;
        let object = given.as_object_mut().context("--settings must be a JSON object")?;
        object.entry("preset").or_insert_with(|| args.preset.clone().into());
        let mut settings = AnalyzeSettings::from_json(&given.to_string())?;
        if let Some(epochs) = args.rvae_epochs {
            settings.training.epochs = epochs;
        }
        if let Some(size) = args.window_angstrom {
            settings.windows.size_angstrom = size;
        }
        settings.training.seed = args.common.seed;
        settings.analysis.seed = args.common.seed;
        Ok(settings)
    }
}

impl From<&ReportArgs> for AnalysisConfig {
    fn from(a: &ReportArgs) -> Self {
        AnalysisConfig {
            bins: a.bins,
            gmm_max_components: a.gmm_max_components,
            baseline_windows: a.baseline_windows,
            baseline_epochs: a.baseline_epochs,
            seed: a.common.seed,
            ..AnalysisConfig::default()
        }
    }
}

/// The whole chain (the library's `analyze_movie`, as the C ABI and Python run it),
/// then the figures.
pub fn analyze(args: &AnalyzeArgs, cancel: &CancelFlag) -> Result<AnalysisFile> {
    let settings = AnalyzeSettings::try_from(args)?;
    let m = &args.movie;
    let device = args.common.device.resolve()?;
    let segmenter = Segmenter::embedded(device)?;
    let file = atomvae::pipeline::analyze_movie(
        &m.movie,
        m.dataset.as_deref(),
        &m.out,
        m.pixel_size,
        &segmenter,
        &settings,
        device,
        &mut BarProgress::new(cancel),
    )?;
    let out_dir = args.report_dir.clone().unwrap_or_else(|| default_report_dir(&m.out));
    let figures = atomvae::report::write_report(&file, &out_dir)?;
    log::info!("{} figures in {}", figures.len(), out_dir.display());
    Ok(file)
}

pub fn report(args: &ReportArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    if args.reanalyse || !file.info().has_analysis {
        let config = AnalysisConfig::from(args);
        let device = args.common.device.resolve()?;
        let analysis =
            atomvae::pipeline::analyse_latents_file(&mut file, &config, device, &mut BarProgress::new(cancel))?;
        log::info!(
            "analysis stored: BIC suggests {} clusters of the latents and {} of the raw windows",
            analysis.latent_gmm.best.components(),
            analysis.window_gmm.best.components()
        );
    }
    let out_dir = args.out_dir.clone().unwrap_or_else(|| default_report_dir(&args.file));
    let figures = atomvae::report::write_report(&file, &out_dir)?;
    log::info!("{} figures in {}", figures.len(), out_dir.display());
    Ok(())
}

fn default_report_dir(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "analysis".into());
    file.with_file_name(format!("{stem}_report"))
}

/// The demo's movie (`pipeline::demo_movie`), analysed with the "recipe" preset (4 Å disc windows, no shift
/// latents, content KL ×0.1 for the first 10 epochs, then the learning rate annealed until the held-out
/// −ELBO stops improving: ≈ 2 minutes) with a training budget that keeps the whole demo within 10 minutes
/// on 2 cores even where training has not converged by then (the other steps take ≈ 1.5 minutes).
const DEMO_BASELINE_EPOCHS: usize = 10;
const DEMO_TRAINING_BUDGET_S: f64 = 450.0;

pub fn demo(out_dir: &Path, seed: u64, cancel: &CancelFlag) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let (sim, movie) = atomvae::pipeline::demo_movie();
    let movie_path = out_dir.join("movie.h5");
    crate::simulate::simulate(sim, movie, seed, &movie_path, cancel)?;
    println!("demo: simulated movie → {}", movie_path.display());
    let analysis_path = out_dir.join("analysis.h5");
    let args = AnalyzeArgs {
        movie: MovieArgs { movie: movie_path, out: analysis_path.clone(), pixel_size: None, dataset: None },
        common: CommonArgs { device: DeviceChoice::Auto, seed },
        preset: "recipe".into(),
        settings: Some(
            serde_json::json!({
                "atoms": { "border": 8.0 },
                "training": { "time_budget_s": DEMO_TRAINING_BUDGET_S },
                "analysis": { "baseline_epochs": DEMO_BASELINE_EPOCHS },
            })
            .to_string(),
        ),
        rvae_epochs: None,
        window_angstrom: None,
        report_dir: Some(out_dir.join("figures")),
    };
    let file = analyze(&args, cancel)?;
    let atoms = file.read_atoms()?.unwrap_or_default();
    let si = atoms.class.iter().filter(|&&c| c == 2).count();
    println!(
        "demo: segmented {} frames with the embedded model: {} atoms ({si} Si); rVAE trained on {} windows and \
         every window encoded (angle, z1, z2; no shift latents) → {}",
        file.info().frames[0],
        atoms.len(),
        file.info().windows.unwrap_or(0),
        analysis_path.display()
    );
    let scores = atomvae::pipeline::score_stored_latents(&file)?;
    println!(
        "demo: against the simulator's truth: angle → sublattice accuracy {:.3} (bulk atoms), z1 → disorder ROC AUC \
         {:.3}, per-frame mean z1 vs disordered fraction r = {:.3} (`atomvae evaluate-rvae` scores any simulated movie)",
        scores.sublattice_accuracy, scores.z1_auc.auc_sign_free, scores.dynamics_r
    );
    println!("demo: the paper's figures for this movie → {}", out_dir.join("figures").display());
    println!("demo: `atomvae inspect {}` lists what the analysis file holds", analysis_path.display());
    Ok(())
}
