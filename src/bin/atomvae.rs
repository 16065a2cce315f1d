//! The `atomvae` command line: one sub-command per pipeline step, plus `demo`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use atomvae::analysis::AnalysisConfig;
use atomvae::device::DeviceChoice;
use atomvae::pipeline::AnalyzeSettings;
use atomvae::progress::{CancelFlag, Progress};
use atomvae::rvae::{EncoderKind, Precision, RvaeConfig, RvaeTrainConfig};
use atomvae::segment::{train_segmenter, AtomFinderConfig, Segmenter, SegmenterConfig, SegmenterTrainConfig};
use atomvae::sim::{MovieParams, SimParams};
use atomvae::store::AnalysisFile;
use atomvae::subimages::{AtomSelection, Centring, EdgePolicy, WindowConfig, WindowNorm, WindowSource};

#[derive(Parser)]
#[command(
    name = "atomvae",
    version,
    about = "Order parameters from atom-resolved STEM movies (rVAE workflow of Kalinin et al., Sci. Adv. 2021)"
)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a HAADF-STEM movie of Si-doped graphene with ground truth.
    Simulate(Box<SimulateArgs>),
    /// The main job on built-in data: simulate a movie, analyse it with the embedded
    /// model and write the figures.
    Demo {
        /// Folder for the results (created if missing).
        #[arg(long, default_value = "atomvae-demo")]
        out_dir: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Start an analysis file from a movie (.npy, .tif/.tiff or .h5): step 0 of `analyze`.
    Import(ImportArgs),
    /// The whole pipeline on a movie: import, segment, atoms, subimages, train-rvae, encode, report.
    Analyze(Box<AnalyzeArgs>),
    /// U-Net segmentation of every frame into class probabilities (/probabilities).
    Segment(SegmentArgs),
    /// Atom finding in the class probabilities (/atoms).
    Atoms(AtomsArgs),
    /// Windows around every atom (/subimages).
    Subimages(SubimagesArgs),
    /// Train the rotationally invariant VAE on the windows (/models/rvae).
    TrainRvae(Box<TrainRvaeArgs>),
    /// Encode every window with the trained rVAE (/latents).
    Encode(StepArgs),
    /// The latent analysis (maps, histograms, GMMs, baselines, SSIM → /analysis) and
    /// the paper's figures as PNG files.
    Report(Box<ReportArgs>),
    /// Train a segmentation U-Net on simulated frames (how the embedded model is made).
    TrainSegmenter(Box<TrainSegmenterArgs>),
    /// Score a segmentation model against simulated ground truth (precision, recall,
    /// position error, Si scores), on frames from seeds never used in training.
    EvaluateSegmenter(EvaluateArgs),
    /// Summarise what an analysis file holds.
    Inspect {
        /// The analysis file.
        file: PathBuf,
    },
    /// Versions, the libtorch in use and the devices it sees.
    Info,
}

#[derive(Args)]
struct ImportArgs {
    /// The movie: .npy (2-D/3-D; f32, f64, u8, u16, i16), .tif/.tiff stack (8/16/32-bit) or .h5.
    movie: PathBuf,
    /// The analysis file to write (.h5); an existing file is replaced only on success.
    #[arg(short, long)]
    out: PathBuf,
    /// Pixel size (Å/px). Required unless the file's metadata holds it: atomvae never guesses.
    #[arg(long)]
    pixel_size: Option<f64>,
    /// Dataset of the frames inside an .h5 input (default: /frames).
    #[arg(long)]
    dataset: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    import: ImportArgs,
    /// Settings of every step: `recipe` (what works on graphene: 6 Å windows on
    /// their inscribed disc, no shift latents, a KL warm-up) or `paper` (the
    /// paper's plain settings).
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
struct TrainSegmenterArgs {
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
struct EvaluateArgs {
    /// Model file (.h5 or compact bytes); default: the embedded model.
    #[arg(long)]
    model: Option<PathBuf>,
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
    /// Border (px) excluded from scoring.
    #[arg(long, default_value_t = 8.0)]
    border: f64,
    /// First simulation seed (training never uses seeds ≥ 1,000,000 of this stream).
    #[arg(long, default_value_t = 1_000_000)]
    first_seed: u64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Clone)]
struct SegmentArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// Segmentation model (.h5 model file or compact bytes); default: the embedded model.
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Clone)]
struct AtomsArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// A pixel is part of an atom when 1 − p(background) exceeds this.
    #[arg(long, default_value_t = AtomFinderConfig::default().threshold)]
    threshold: f32,
    /// Atoms closer than this to the frame edge are dropped (px).
    #[arg(long, default_value_t = AtomFinderConfig::default().border)]
    border: f64,
    /// Blobs closer than this are merged into one atom (Å).
    #[arg(long, default_value_t = AtomFinderConfig::default().merge_distance)]
    merge_distance: f64,
    /// Blobs smaller than this are ignored (Å²).
    #[arg(long, default_value_t = AtomFinderConfig::default().min_area)]
    min_area: f64,
    #[command(flatten)]
    common: CommonArgs,
}

fn parse_choice<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|e| e.to_string())
}

#[derive(Args, Clone)]
struct SubimagesArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// Window edge in Å (≈ 4 Å: an atom and its three neighbours).
    #[arg(long, default_value_t = WindowConfig::default().size_angstrom)]
    size_angstrom: f64,
    /// Window edge in px (8–128), overriding --size-angstrom.
    #[arg(long)]
    size_px: Option<usize>,
    /// Cut from: atoms (sum of the atom-class probabilities) or frames (raw).
    #[arg(long, default_value = "atoms", value_parser = parse_choice::<WindowSource>)]
    source: WindowSource,
    /// Centre on: carbon, silicon or all atoms.
    #[arg(long, default_value = "carbon", value_parser = parse_choice::<AtomSelection>)]
    atoms: AtomSelection,
    /// Centring: round (to the nearest pixel, as the paper) or bilinear (sub-pixel).
    #[arg(long, default_value = "round", value_parser = parse_choice::<Centring>)]
    centring: Centring,
    /// Windows crossing the frame edge: skip or pad (with zeros).
    #[arg(long, default_value = "skip", value_parser = parse_choice::<EdgePolicy>)]
    edges: EdgePolicy,
    /// Per-window normalisation: none, minmax or zscore.
    #[arg(long, default_value = "none", value_parser = parse_choice::<WindowNorm>)]
    normalization: WindowNorm,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Clone)]
struct TrainRvaeArgs {
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
    /// Stop after this many epochs without held-out improvement (0 = never).
    #[arg(long, default_value_t = 0)]
    early_stop: usize,
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

#[derive(Args)]
struct ReportArgs {
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

#[derive(Args)]
struct StepArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Compute device: auto (CUDA when available), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Random seed of every random choice of the step.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct SimulateArgs {
    /// Output file: .h5 (frames, label masks, true atoms, provenance), .npy or .tif
    /// (frames only, with NAME.atoms.csv and NAME.meta.json beside them).
    #[arg(long)]
    out: PathBuf,
    /// Number of frames of the movie.
    #[arg(long, default_value_t = MovieParams::default().frames)]
    frames: usize,
    /// Frame size in pixels: height width.
    #[arg(long, num_args = 2, action = clap::ArgAction::Set, value_names = ["H", "W"], default_values_t = [SimParams::default().height as i64, SimParams::default().width as i64], allow_negative_numbers = true)]
    size: Vec<i64>,
    /// Random seed; the same seed and parameters give bit-identical frames.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pixel size (Å/px); at most 0.5 so that the lattice is resolved.
    #[arg(long, default_value_t = SimParams::default().pixel_size, allow_negative_numbers = true)]
    pixel_size: f64,
    /// Standard deviation of the Gaussian probe (Å).
    #[arg(long, default_value_t = SimParams::default().probe_sigma)]
    probe_sigma: f64,
    /// Dose: expected counts at the peak of a C atom (0 = no shot noise).
    #[arg(long, default_value_t = SimParams::default().dose, allow_negative_numbers = true)]
    dose: f64,
    /// Gaussian read noise (σ, in units of the C peak).
    #[arg(long, default_value_t = SimParams::default().read_noise)]
    read_noise: f64,
    /// Constant detector background (in units of the C peak).
    #[arg(long, default_value_t = SimParams::default().background)]
    background: f64,
    /// Exponent γ of the Z-contrast law, intensity ∝ Z^γ.
    #[arg(long, default_value_t = SimParams::default().z_exponent)]
    z_exponent: f64,
    /// Radius of the class disks of the label masks (Å).
    #[arg(long, default_value_t = SimParams::default().label_radius)]
    label_radius: f64,
    /// Fraction of atoms substituted by Si (0–0.5).
    #[arg(long, default_value_t = SimParams::default().si_fraction)]
    si_fraction: f64,
    /// Fraction of atoms removed as vacancies (0–0.5).
    #[arg(long, default_value_t = SimParams::default().vacancy_fraction)]
    vacancy_fraction: f64,
    /// Number of holes in the first frame (each 4–9 Å across by default: use 0 on
    /// frames smaller than ~200 px, which one hole would empty).
    #[arg(long, default_value_t = SimParams::default().holes)]
    holes: usize,
    /// Range of hole radii (Å): min max.
    #[arg(long, num_args = 2, action = clap::ArgAction::Set, value_names = ["MIN", "MAX"], default_values_t = SimParams::default().hole_radius)]
    hole_radius: Vec<f64>,
    /// Number of grains (more than one: rotated grains with grain boundaries).
    #[arg(long, default_value_t = SimParams::default().grains)]
    grains: usize,
    /// Number of Stone–Wales (5-7) defects.
    #[arg(long, default_value_t = SimParams::default().stone_wales)]
    stone_wales: usize,
    /// Number of amorphous contamination blobs.
    #[arg(long, default_value_t = SimParams::default().contamination)]
    contamination: usize,
    /// Radius of a contamination blob (Å).
    #[arg(long, default_value_t = SimParams::default().contamination_radius)]
    contamination_radius: f64,
    /// Lattice rotation (rad, counter-clockwise); random when not given.
    #[arg(long, allow_negative_numbers = true)]
    rotation: Option<f64>,
    /// RMS horizontal jitter of the scan lines (px).
    #[arg(long, default_value_t = SimParams::default().line_jitter)]
    line_jitter: f64,
    /// Horizontal scan drift from the top to the bottom of a frame (px).
    #[arg(long, default_value_t = SimParams::default().drift, allow_negative_numbers = true)]
    drift: f64,
    /// Radial growth of each hole per frame (Å/frame).
    #[arg(long, default_value_t = MovieParams::default().hole_growth)]
    hole_growth: f64,
    /// Fraction of atoms knocked out per frame.
    #[arg(long, default_value_t = MovieParams::default().vacancy_rate)]
    vacancy_rate: f64,
    /// Probability per frame that a new hole opens.
    #[arg(long, default_value_t = MovieParams::default().hole_nucleation)]
    hole_nucleation: f64,
    /// Probability per frame that a Si atom hops toward the nearest hole edge.
    #[arg(long, default_value_t = MovieParams::default().si_hop_probability)]
    si_hop_probability: f64,
    /// Lattice rotation per frame (rad/frame).
    #[arg(long, default_value_t = MovieParams::default().rotation_per_frame, allow_negative_numbers = true)]
    rotation_per_frame: f64,
    /// RMS stage drift per frame (Å/frame).
    #[arg(long, default_value_t = MovieParams::default().stage_drift)]
    stage_drift: f64,
}

impl SimulateArgs {
    fn to_params(&self) -> Result<(SimParams, MovieParams)> {
        let edge = |v: i64, name: &str| -> Result<usize> {
            if v <= 0 {
                bail!("invalid simulation parameter: frame {name} must be a positive number of pixels, got {v}");
            }
            Ok(v as usize)
        };
        let sim = SimParams {
            height: edge(self.size[0], "height")?,
            width: edge(self.size[1], "width")?,
            pixel_size: self.pixel_size,
            probe_sigma: self.probe_sigma,
            dose: self.dose,
            read_noise: self.read_noise,
            si_fraction: self.si_fraction,
            vacancy_fraction: self.vacancy_fraction,
            holes: self.holes,
            hole_radius: [self.hole_radius[0], self.hole_radius[1]],
            grains: self.grains,
            stone_wales: self.stone_wales,
            contamination: self.contamination,
            contamination_radius: self.contamination_radius,
            rotation: self.rotation,
            line_jitter: self.line_jitter,
            drift: self.drift,
            background: self.background,
            z_exponent: self.z_exponent,
            label_radius: self.label_radius,
        };
        let movie = MovieParams {
            frames: self.frames,
            hole_growth: self.hole_growth,
            vacancy_rate: self.vacancy_rate,
            hole_nucleation: self.hole_nucleation,
            si_hop_probability: self.si_hop_probability,
            rotation_per_frame: self.rotation_per_frame,
            stage_drift: self.stage_drift,
        };
        Ok((sim, movie))
    }
}

/// A terminal progress bar (hidden when stderr is not a terminal) that also carries
/// the Ctrl-C flag.
struct BarProgress {
    bar: Option<ProgressBar>,
    cancel: CancelFlag,
}

impl BarProgress {
    fn new(cancel: &CancelFlag) -> Self {
        Self { bar: None, cancel: cancel.clone() }
    }
}

impl Progress for BarProgress {
    fn start(&mut self, phase: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(phase.to_string());
        log::debug!("{phase}: {total} steps");
        self.bar = Some(bar);
    }
    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_raised()
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Simulates a movie into `out`; the file appears only when every frame is written.
fn simulate(sim: SimParams, movie: MovieParams, seed: u64, out: &Path, cancel: &CancelFlag) -> Result<()> {
    let started = std::time::Instant::now();
    let mut progress = BarProgress::new(cancel);
    let atoms = atomvae::pipeline::simulate_movie(&sim, &movie, seed, out, &mut progress).map_err(|e| match e {
        atomvae::pipeline::PipelineError::Store(atomvae::store::StoreError::Cancelled) => {
            anyhow::anyhow!("interrupted; {} was left as it was", out.display())
        }
        other => other.into(),
    })?;
    log::info!(
        "wrote {} ({} frames of {}×{} px, {} atoms in all) in {:.2} s",
        out.display(),
        movie.frames,
        sim.height,
        sim.width,
        atoms,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Step 0: frames of a user's movie into a new analysis file.
fn import(args: &ImportArgs, cancel: &CancelFlag) -> Result<AnalysisFile> {
    let file = atomvae::pipeline::import_movie(
        &args.movie,
        args.dataset.as_deref(),
        &args.out,
        args.pixel_size,
        args.common.seed,
        &mut BarProgress::new(cancel),
    )?;
    let [n, h, w] = file.info().frames;
    log::info!("wrote {} ({n} frames of {h}×{w} px at {} Å/px)", args.out.display(), file.info().pixel_size);
    Ok(file)
}

fn subimages_cmd(args: &SubimagesArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let config = WindowConfig {
        size_angstrom: args.size_angstrom,
        size_px: args.size_px,
        source: args.source,
        atoms: args.atoms,
        centring: args.centring,
        edges: args.edges,
        normalization: args.normalization,
    };
    let windows = atomvae::pipeline::cut_windows_file(&mut file, &config, &mut BarProgress::new(cancel))?;
    log::info!("cut {} windows of {1}×{1} px", windows.count, windows.size_px);
    Ok(())
}

fn train_rvae_cmd(args: &TrainRvaeArgs, cancel: &CancelFlag) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    let mut file = AnalysisFile::open(&args.file)?;
    let device = args.common.device.resolve()?;
    let model = RvaeConfig {
        latent_dim: args.latent_dim,
        rotation_prior: args.rotation_prior,
        translation_prior: args.translation_prior,
        translation: !args.no_translation,
        kl_weight: args.kl_weight,
        disc: args.disc,
        encoder: args.encoder,
        ..RvaeConfig::default()
    };
    let training = RvaeTrainConfig {
        epochs: args.epochs,
        batch: args.batch,
        micro_batch: args.micro_batch,
        learning_rate: args.learning_rate,
        holdout_fraction: args.holdout,
        early_stop_patience: args.early_stop,
        precision: args.precision,
        resident_mib: args.resident_mib,
        kl_warmup_epochs: args.kl_warmup_epochs,
        kl_warmup_weight: args.kl_warmup_weight,
        seed: args.common.seed,
    };
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

fn encode_cmd(args: &StepArgs) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let latents = atomvae::pipeline::encode_file(&mut file, args.common.device.resolve()?)?;
    log::info!("encoded {} windows into {}", latents.mean.nrows(), latents.names.join(", "));
    Ok(())
}

fn segment_cmd(args: &SegmentArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let device = args.common.device.resolve()?;
    let segmenter = load_segmenter(args.model.as_deref(), device)?;
    let started = std::time::Instant::now();
    atomvae::pipeline::segment_file(&mut file, &segmenter, args.common.seed, &mut BarProgress::new(cancel))?;
    let [n, h, w] = file.info().frames;
    log::info!(
        "segmented {n} frames of {h}×{w} px in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        file.path().display()
    );
    Ok(())
}

fn atoms_cmd(args: &AtomsArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let finder = AtomFinderConfig {
        threshold: args.threshold,
        border: args.border,
        merge_distance: args.merge_distance,
        min_area: args.min_area,
    };
    let table = atomvae::pipeline::find_atoms_file(&mut file, &finder, &mut BarProgress::new(cancel))?;
    let si = table.class.iter().filter(|&&c| c == 2).count();
    log::info!("found {} atoms ({si} Si) in {} frames", table.len(), file.info().frames[0]);
    Ok(())
}

fn report_cmd(args: &ReportArgs, cancel: &CancelFlag) -> Result<Vec<PathBuf>> {
    let mut file = AnalysisFile::open(&args.file)?;
    if args.reanalyse || !file.info().has_analysis {
        let config = AnalysisConfig {
            bins: args.bins,
            gmm_max_components: args.gmm_max_components,
            baseline_windows: args.baseline_windows,
            baseline_epochs: args.baseline_epochs,
            seed: args.common.seed,
            ..AnalysisConfig::default()
        };
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
    Ok(figures)
}

fn default_report_dir(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "analysis".into());
    file.with_file_name(format!("{stem}_report"))
}

/// The settings of `analyze`: the preset, the JSON laid over it, then the flags.
fn analyze_settings(args: &AnalyzeArgs) -> Result<AnalyzeSettings> {
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
    settings.training.seed = args.import.common.seed;
    settings.analysis.seed = args.import.common.seed;
    Ok(settings)
}

/// The whole chain (the library's `analyze_movie`, as the C ABI and Python run it),
/// then the figures.
fn analyze(args: &AnalyzeArgs, cancel: &CancelFlag) -> Result<AnalysisFile> {
    let settings = analyze_settings(args)?;
    let i = &args.import;
    let device = i.common.device.resolve()?;
    let segmenter = Segmenter::embedded(device)?;
    let file = atomvae::pipeline::analyze_movie(
        &i.movie,
        i.dataset.as_deref(),
        &i.out,
        i.pixel_size,
        &segmenter,
        &settings,
        device,
        &mut BarProgress::new(cancel),
    )?;
    let out_dir = args.report_dir.clone().unwrap_or_else(|| default_report_dir(&i.out));
    let figures = atomvae::report::write_report(&file, &out_dir)?;
    log::info!("{} figures in {}", figures.len(), out_dir.display());
    Ok(file)
}

fn train_segmenter_cmd(args: &TrainSegmenterArgs, cancel: &CancelFlag) -> Result<()> {
    if args.threads > 0 {
        tch::set_num_threads(args.threads);
    }
    let device = args.common.device.resolve()?;
    let model_cfg = SegmenterConfig {
        base_channels: args.base_channels,
        depth: args.depth,
        pixel_size: args.model_pixel_size,
        ..SegmenterConfig::default()
    };
    let train_cfg = SegmenterTrainConfig {
        epochs: args.epochs,
        batches_per_epoch: args.batches_per_epoch,
        batch: args.batch,
        patch: args.patch,
        learning_rate: args.learning_rate,
        si_weight: args.si_weight,
        seed: args.common.seed,
        ..SegmenterTrainConfig::default()
    };
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

fn load_segmenter(model: Option<&Path>, device: tch::Device) -> Result<Segmenter> {
    Ok(atomvae::pipeline::load_segmenter(model, device)?)
}

fn evaluate_segmenter(args: &EvaluateArgs) -> Result<()> {
    let device = args.common.device.resolve()?;
    let segmenter = load_segmenter(args.model.as_deref(), device)?;
    let finder = atomvae::segment::AtomFinderConfig::default();
    let mut rows = Vec::new();
    for k in 0..args.frames {
        let params = SimParams {
            height: args.size[0],
            width: args.size[1],
            dose: args.dose,
            pixel_size: args.pixel_size,
            holes: 2,
            contamination: 1,
            ..SimParams::default()
        };
        let frame = atomvae::sim::simulate_frame(&params, args.first_seed + k as u64)?;
        let t0 = std::time::Instant::now();
        let (found, _) = segmenter.find_atoms(frame.image.view(), args.pixel_size, &finder)?;
        let secs = t0.elapsed().as_secs_f64();
        let scores = atomvae::segment::score_atoms(
            &found,
            &frame.atoms,
            frame.image.dim(),
            args.pixel_size,
            args.match_radius,
            args.border,
        );
        println!("frame {k}: {} s {}", secs, serde_json::to_string(&scores)?);
        rows.push(scores);
    }
    Ok(())
}

fn inspect(path: &Path) -> Result<()> {
    let file = AnalysisFile::open(path)?;
    let i = file.info();
    println!("{}", path.display());
    println!("  schema version {}", i.schema_version);
    println!("  frames: {} × {} × {} px at {} Å/px", i.frames[0], i.frames[1], i.frames[2], i.pixel_size);
    println!("  classes: {}", i.class_names.join(", "));
    println!("  probabilities: {}", if i.has_probabilities { "yes" } else { "no" });
    let count = |v: Option<usize>| v.map_or("none".to_string(), |n| n.to_string());
    println!("  atoms: {}", count(i.atoms));
    println!("  windows: {}", count(i.windows));
    println!("  latents: {}", count(i.latents));
    println!("  models: {}", if i.models.is_empty() { "none".into() } else { i.models.join(", ") });
    println!("  steps: {}", i.steps.join(", "));
    Ok(())
}

/// The demo's movie: 12 frames of 51 Å square at 0.2 Å/px (the segmenter's own
/// pixel size), analysed with the "recipe" preset (the analysis test's: 6 Å disc
/// windows, no shift latents, content KL ×5 for the first 10 epochs, 30 epochs).
const DEMO_FRAMES: usize = 12;
const DEMO_BASELINE_EPOCHS: usize = 10;

fn demo(out_dir: &Path, seed: u64, cancel: &CancelFlag) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let sim = SimParams {
        height: 256,
        width: 256,
        pixel_size: 0.2,
        holes: 3,
        vacancy_fraction: 0.02,
        contamination: 1,
        ..SimParams::default()
    };
    let movie = MovieParams { frames: DEMO_FRAMES, ..MovieParams::default() };
    let movie_path = out_dir.join("movie.h5");
    simulate(sim, movie, seed, &movie_path, cancel)?;
    println!("demo: simulated movie → {}", movie_path.display());
    let analysis_path = out_dir.join("analysis.h5");
    let args = AnalyzeArgs {
        import: ImportArgs {
            movie: movie_path,
            out: analysis_path.clone(),
            pixel_size: None,
            dataset: None,
            common: CommonArgs { device: DeviceChoice::Auto, seed },
        },
        preset: "recipe".into(),
        settings: Some(
            serde_json::json!({ "atoms": { "border": 8.0 }, "analysis": { "baseline_epochs": DEMO_BASELINE_EPOCHS } })
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
    println!("demo: the paper's figures for this movie → {}", out_dir.join("figures").display());
    println!("demo: `atomvae inspect {}` lists what the analysis file holds", analysis_path.display());
    Ok(())
}

fn info() {
    println!("atomvae {} (git {})", atomvae::VERSION, atomvae::GIT_COMMIT);
    println!("libtorch: {}", atomvae::device::libtorch_lib_dir());
    println!("cuda available: {} ({} devices)", tch::Cuda::is_available(), tch::Cuda::device_count());
    println!("libtorch threads: {}", tch::get_num_threads());
}

fn main() {
    let cli = Cli::parse();
    let level = if cli.quiet {
        "warn"
    } else {
        match cli.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).format_timestamp_secs().init();
    let cancel = CancelFlag::default();
    {
        let cancel = cancel.clone();
        if let Err(e) = ctrlc::set_handler(move || cancel.raise()) {
            log::warn!("Ctrl-C will not stop cleanly: {e}");
        }
    }
    // A panic (e.g. libtorch running out of memory) ends as an `error:` line and a
    // non-zero exit like any other failure, not as a Rust panic message.
    std::panic::set_hook(Box::new(|info| log::debug!("panic: {info}")));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli.command, &cancel)));
    let result = outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown failure".into());
        Err(anyhow::anyhow!("internal error: {what}"))
    });
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(command: Command, cancel: &CancelFlag) -> Result<()> {
    let cancel = cancel.clone();
    match command {
        Command::Simulate(args) => {
            args.to_params().and_then(|(sim, movie)| simulate(sim, movie, args.seed, &args.out, &cancel))
        }
        Command::Import(args) => import(&args, &cancel).map(|_| ()),
        Command::Analyze(args) => analyze(&args, &cancel).map(|_| ()),
        Command::Segment(a) => segment_cmd(&a, &cancel),
        Command::Atoms(a) => atoms_cmd(&a, &cancel),
        Command::Subimages(a) => subimages_cmd(&a, &cancel),
        Command::TrainRvae(a) => train_rvae_cmd(&a, &cancel),
        Command::Encode(a) => encode_cmd(&a),
        Command::Report(a) => report_cmd(&a, &cancel).map(|_| ()),
        Command::TrainSegmenter(a) => train_segmenter_cmd(&a, &cancel),
        Command::EvaluateSegmenter(a) => evaluate_segmenter(&a),
        Command::Inspect { file } => inspect(&file),
        Command::Demo { out_dir, seed } => demo(&out_dir, seed, &cancel),
        Command::Info => {
            info();
            Ok(())
        }
    }
}
