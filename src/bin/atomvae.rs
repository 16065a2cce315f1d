//! The `atomvae` command line: one sub-command per pipeline step, plus `demo`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use atomvae::device::DeviceChoice;
use atomvae::progress::{CancelFlag, Progress};
use atomvae::sim::{MovieParams, SimParams, Simulator, CLASS_NAMES};
use atomvae::store::{now_utc, AnalysisFile, FrameStack, MovieMeta, MovieWriter, StepRecord};

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
    /// The main job on built-in data: simulate a movie and write it (grows with the pipeline).
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
    Analyze(ImportArgs),
    /// U-Net segmentation of every frame into class probabilities.
    Segment(StepArgs),
    /// Atom finding in the class probabilities.
    Atoms(StepArgs),
    /// Windows around every atom.
    Subimages(StepArgs),
    /// Train the rotationally invariant VAE on the windows.
    TrainRvae(StepArgs),
    /// Encode every window with the trained rVAE.
    Encode(StepArgs),
    /// Figures from an analysis file.
    Report(StepArgs),
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
    let simulator = Simulator::new(sim.clone(), movie.clone(), seed)?;
    let meta = MovieMeta {
        pixel_size: sim.pixel_size,
        class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
        parameters: serde_json::json!({ "simulation": sim, "movie": movie }),
        seed,
        software: format!("atomvae {}", atomvae::VERSION),
        started: now_utc(),
    };
    let mut writer = MovieWriter::create(out, [movie.frames, sim.height, sim.width], meta)?;
    let mut progress = BarProgress::new(cancel);
    progress.start("simulate", movie.frames as u64);
    let started = std::time::Instant::now();
    let mut atoms = 0usize;
    for frame in simulator {
        if progress.cancelled() {
            bail!("interrupted; {} was left as it was", out.display());
        }
        writer.write_frame(frame.image.view(), Some(frame.labels.view()), &frame.atoms)?;
        atoms += frame.atoms.len();
        log::debug!("frame {}: {} atoms", frame.index, frame.atoms.len());
        progress.advance(1);
    }
    writer.finish()?;
    progress.finish();
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
    let started = now_utc();
    let mut stack = FrameStack::open(&args.movie, args.dataset.as_deref())?;
    let pixel_size = match (args.pixel_size, stack.pixel_size()) {
        (Some(p), _) => p,
        (None, Some(p)) => {
            log::info!("pixel size {p} Å/px from the metadata of {}", args.movie.display());
            p
        }
        (None, None) => bail!(
            "{}: the file does not say its pixel size; pass --pixel-size in Å/px (atomvae does not guess)",
            args.movie.display()
        ),
    };
    let record = StepRecord {
        step: "import".into(),
        parameters: serde_json::json!({
            "movie": args.movie.display().to_string(),
            "dataset": args.dataset,
            "pixel_size": pixel_size,
        }),
        started,
        finished: now_utc(),
        device: "cpu".into(),
        seed: args.common.seed,
    };
    let class_names: Vec<String> = CLASS_NAMES.iter().map(|s| s.to_string()).collect();
    let mut progress = BarProgress::new(cancel);
    let file =
        AnalysisFile::create_from_stack(&args.out, &mut stack, pixel_size, &class_names, &record, &mut progress)?;
    let [n, h, w] = file.info().frames;
    log::info!("wrote {} ({n} frames of {h}×{w} px at {pixel_size} Å/px)", args.out.display());
    Ok(file)
}

/// The pipeline steps, in order, after import.
const STEPS: [&str; 6] = ["segment", "atoms", "subimages", "train-rvae", "encode", "report"];

fn not_yet(step: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`atomvae {step}` is not available in this build yet (it arrives with the {} work); \
         the analysis file was left as it was",
        match step {
            "segment" | "atoms" => "segmentation",
            "subimages" | "train-rvae" | "encode" => "rVAE",
            _ => "analysis and figures",
        }
    )
}

fn run_step(step: &str, args: &StepArgs) -> Result<()> {
    let file = AnalysisFile::open(&args.file)?;
    args.common.device.resolve()?;
    log::debug!("{step} on {} ({:?})", file.path().display(), file.info().frames);
    Err(not_yet(step))
}

fn analyze(args: &ImportArgs, cancel: &CancelFlag) -> Result<()> {
    import(args, cancel)?;
    let step_args = StepArgs { file: args.out.clone(), common: args.common.clone() };
    for step in STEPS {
        run_step(step, &step_args).with_context(|| format!("analyze stopped after import at `{step}`"))?;
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

fn demo(out_dir: &Path, seed: u64, cancel: &CancelFlag) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let sim = SimParams { height: 512, width: 512, holes: 2, contamination: 1, ..SimParams::default() };
    let movie = MovieParams { frames: 20, ..MovieParams::default() };
    let movie_path = out_dir.join("movie.h5");
    simulate(sim, movie, seed, &movie_path, cancel)?;
    println!("demo: simulated movie → {}", movie_path.display());
    let analysis_path = out_dir.join("analysis.h5");
    let args = ImportArgs {
        movie: movie_path,
        out: analysis_path.clone(),
        pixel_size: None,
        dataset: None,
        common: CommonArgs { device: DeviceChoice::Auto, seed },
    };
    import(&args, cancel)?;
    println!("demo: analysis file → {}", analysis_path.display());
    println!("demo: segmentation, rVAE and figures join here as they are built");
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
    let result = match cli.command {
        Command::Simulate(args) => {
            args.to_params().and_then(|(sim, movie)| simulate(sim, movie, args.seed, &args.out, &cancel))
        }
        Command::Import(args) => import(&args, &cancel).map(|_| ()),
        Command::Analyze(args) => analyze(&args, &cancel),
        Command::Segment(a) => run_step("segment", &a),
        Command::Atoms(a) => run_step("atoms", &a),
        Command::Subimages(a) => run_step("subimages", &a),
        Command::TrainRvae(a) => run_step("train-rvae", &a),
        Command::Encode(a) => run_step("encode", &a),
        Command::Report(a) => run_step("report", &a),
        Command::Inspect { file } => inspect(&file),
        Command::Demo { out_dir, seed } => demo(&out_dir, seed, &cancel),
        Command::Info => {
            info();
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
