//! The `atomvae` command line: one sub-command per pipeline step, plus `demo`.
//! This file holds the sub-command list, logging, dispatch and the error exit.

mod analyze;
mod common;
mod evaluate_rvae;
mod inspect;
mod pipeline_steps;
mod progress;
mod segmenter;
mod simulate;
mod train_rvae;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use atomvae::progress::CancelFlag;

use analyze::{AnalyzeArgs, ReportArgs};
use common::StepArgs;
use evaluate_rvae::EvaluateRvaeArgs;
use pipeline_steps::{AtomsArgs, ImportArgs, SegmentArgs, SubimagesArgs};
use segmenter::{EvaluateArgs, TrainSegmenterArgs};
use simulate::SimulateArgs;
use train_rvae::TrainRvaeArgs;

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
    /// Score the order parameters of an encoded simulated movie against its ground
    /// truth: angle → sublattice, z1 → disorder, per-frame dynamics (and their spread
    /// over training seeds with --seeds).
    EvaluateRvae(EvaluateRvaeArgs),
    /// Summarise what an analysis file holds.
    Inspect {
        /// The analysis file.
        file: PathBuf,
    },
    /// Versions, the libtorch in use and the devices it sees.
    Info,
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
        Command::Simulate(args) => simulate::run(&args, &cancel),
        Command::Import(args) => pipeline_steps::import(&args, &cancel),
        Command::Analyze(args) => analyze::analyze(&args, &cancel).map(|_| ()),
        Command::Segment(a) => pipeline_steps::segment(&a, &cancel),
        Command::Atoms(a) => pipeline_steps::atoms(&a, &cancel),
        Command::Subimages(a) => pipeline_steps::subimages(&a, &cancel),
        Command::TrainRvae(a) => train_rvae::train_rvae(&a, &cancel),
        Command::Encode(a) => pipeline_steps::encode(&a, &cancel),
        Command::Report(a) => analyze::report(&a, &cancel),
        Command::TrainSegmenter(a) => segmenter::train(&a, &cancel),
        Command::EvaluateSegmenter(a) => segmenter::evaluate(&a, &cancel),
        Command::EvaluateRvae(a) => evaluate_rvae::run(&a, &cancel),
        Command::Inspect { file } => inspect::inspect(&file),
        Command::Demo { out_dir, seed } => analyze::demo(&out_dir, seed, &cancel),
        Command::Info => {
            inspect::info();
            Ok(())
        }
    }
}
