//! The `atomvae` command line: one sub-command per pipeline step, plus `demo`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use atomvae::sim::{MovieParams, SimParams, Simulator, CLASS_NAMES};
use atomvae::store::{MovieMeta, MovieWriter};

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
    /// Versions, the libtorch in use and the devices it sees.
    Info,
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

fn progress_bar(len: u64, what: &str) -> ProgressBar {
    // indicatif hides itself when stderr is not a terminal.
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Simulates a movie into `out`; the file appears only when every frame is written.
fn simulate(sim: SimParams, movie: MovieParams, seed: u64, out: &Path, stop: &AtomicBool) -> Result<()> {
    let simulator = Simulator::new(sim.clone(), movie.clone(), seed)?;
    let meta = MovieMeta {
        pixel_size: sim.pixel_size,
        class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
        parameters: serde_json::json!({ "simulation": sim, "movie": movie }),
        seed,
        software: format!("atomvae {}", atomvae::VERSION),
    };
    let mut writer = MovieWriter::create(out, [movie.frames, sim.height, sim.width], meta)?;
    let bar = progress_bar(movie.frames as u64, "simulate");
    let started = std::time::Instant::now();
    let mut atoms = 0usize;
    for frame in simulator {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted; {} was left as it was", out.display());
        }
        writer.write_frame(frame.image.view(), Some(frame.labels.view()), &frame.atoms)?;
        atoms += frame.atoms.len();
        log::debug!("frame {}: {} atoms", frame.index, frame.atoms.len());
        bar.inc(1);
    }
    writer.finish()?;
    bar.finish_and_clear();
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

fn demo(out_dir: &Path, seed: u64, stop: &AtomicBool) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let sim = SimParams { height: 512, width: 512, holes: 2, contamination: 1, ..SimParams::default() };
    let movie = MovieParams { frames: 20, ..MovieParams::default() };
    let movie_path = out_dir.join("movie.h5");
    simulate(sim, movie, seed, &movie_path, stop)?;
    println!("demo: simulated movie → {}", movie_path.display());
    println!("demo: the segmentation, rVAE and report steps join here as they are built");
    Ok(())
}

fn info() {
    println!("atomvae {}", atomvae::VERSION);
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
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)) {
            log::warn!("Ctrl-C will not stop cleanly: {e}");
        }
    }
    let result = match cli.command {
        Command::Simulate(args) => {
            args.to_params().and_then(|(sim, movie)| simulate(sim, movie, args.seed, &args.out, &stop))
        }
        Command::Demo { out_dir, seed } => demo(&out_dir, seed, &stop),
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
