//! The single steps of the pipeline on an analysis file: `import`, `segment`,
//! `atoms`, `subimages` and `encode` (`train-rvae` has its own module).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use atomvae::progress::CancelFlag;
use atomvae::segment::AtomFinderConfig;
use atomvae::store::AnalysisFile;
use atomvae::subimages::{AtomSelection, Centring, EdgePolicy, WindowConfig, WindowNorm, WindowSource};

use crate::common::{parse_choice, CommonArgs, StepArgs};
use crate::progress::BarProgress;

/// The movie and the analysis file made from it (`import` and `analyze`).
#[derive(Args)]
pub struct MovieArgs {
    /// The movie: .npy (2-D/3-D; f32, f64, u8, u16, i16), .tif/.tiff stack (8/16/32-bit) or .h5.
    pub movie: PathBuf,
    /// The analysis file to write (.h5); an existing file is replaced only on success.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Pixel size (Å/px). Required unless the file's metadata holds it: atomvae never guesses.
    #[arg(long)]
    pub pixel_size: Option<f64>,
    /// Dataset of the frames inside an .h5 input (default: /frames).
    #[arg(long)]
    pub dataset: Option<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    movie: MovieArgs,
    /// Seed recorded in the import's provenance (importing draws nothing at random).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
pub struct SegmentArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// Segmentation model (.h5 model file or compact bytes); default: the embedded model.
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct AtomsArgs {
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
    /// A Si must be at least this many times as bright as the carbon around it
    /// (mean over a 0.4 Å disc above the background, against the median of the atoms
    /// within 5 Å), or it is counted as C; 0 trusts the network alone.
    #[arg(long, default_value_t = AtomFinderConfig::default().si_min_ratio)]
    si_min_ratio: f64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
pub struct SubimagesArgs {
    /// The analysis file (updated in place, atomically).
    file: PathBuf,
    /// Window edge in Å (≈ 4 Å: an atom and its three neighbours).
    #[arg(long, default_value_t = WindowConfig::default().size_angstrom)]
    size_angstrom: f64,
    /// Window edge in px (8–128), overriding --size-angstrom.
    #[arg(long)]
    size_px: Option<usize>,
    /// Finest window pitch in Å/px: finer frames are averaged down to it (e.g. 0.2;
    /// the rVAE's cost falls with the square of the window's pixels).
    #[arg(long)]
    sampling_angstrom: Option<f64>,
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

impl From<&AtomsArgs> for AtomFinderConfig {
    fn from(a: &AtomsArgs) -> Self {
        AtomFinderConfig {
            threshold: a.threshold,
            border: a.border,
            merge_distance: a.merge_distance,
            min_area: a.min_area,
            si_min_ratio: a.si_min_ratio,
        }
    }
}

impl From<&SubimagesArgs> for WindowConfig {
    fn from(a: &SubimagesArgs) -> Self {
        WindowConfig {
            size_angstrom: a.size_angstrom,
            size_px: a.size_px,
            sampling_angstrom: a.sampling_angstrom,
            source: a.source,
            atoms: a.atoms,
            centring: a.centring,
            edges: a.edges,
            normalization: a.normalization,
        }
    }
}

/// Step 0: frames of a user's movie into a new analysis file.
pub fn import(args: &ImportArgs, cancel: &CancelFlag) -> Result<()> {
    let m = &args.movie;
    let file = atomvae::pipeline::import_movie(
        &m.movie,
        m.dataset.as_deref(),
        &m.out,
        m.pixel_size,
        args.seed,
        &mut BarProgress::new(cancel),
    )?;
    let [n, h, w] = file.info().frames;
    log::info!("wrote {} ({n} frames of {h}×{w} px at {} Å/px)", m.out.display(), file.info().pixel_size);
    Ok(())
}

pub fn segment(args: &SegmentArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let device = args.common.device.resolve()?;
    let segmenter = atomvae::pipeline::load_segmenter(args.model.as_deref(), device)?;
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

pub fn atoms(args: &AtomsArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let finder = AtomFinderConfig::from(args);
    let table = atomvae::pipeline::find_atoms_file(&mut file, &finder, &mut BarProgress::new(cancel))?;
    let si = table.class.iter().filter(|&&c| c == 2).count();
    log::info!("found {} atoms ({si} Si) in {} frames", table.len(), file.info().frames[0]);
    Ok(())
}

pub fn subimages(args: &SubimagesArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let config = WindowConfig::from(args);
    let windows = atomvae::pipeline::cut_windows_file(&mut file, &config, &mut BarProgress::new(cancel))?;
    log::info!("cut {} windows of {1}×{1} px", windows.count, windows.size_px);
    Ok(())
}

pub fn encode(args: &StepArgs, cancel: &CancelFlag) -> Result<()> {
    let mut file = AnalysisFile::open(&args.file)?;
    let device = args.common.device.resolve()?;
    let latents = atomvae::pipeline::encode_file(&mut file, device, &mut BarProgress::new(cancel))?;
    log::info!("encoded {} windows into {}", latents.mean.nrows(), latents.names.join(", "));
    Ok(())
}
