//! `simulate`: the arguments of the movie simulator, their conversion into the
//! library's `SimParams`/`MovieParams`, and the run that writes the movie.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use atomvae::progress::CancelFlag;
use atomvae::sim::{MovieParams, SimParams};

use crate::progress::BarProgress;

#[derive(Args)]
pub struct SimulateArgs {
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
    /// Brightness of each contamination atom (units of a C atom; thick contamination > 1).
    #[arg(long, default_value_t = SimParams::default().contamination_weight)]
    contamination_weight: f64,
    /// Fraction of the probe's intensity in a wide tail (Airy rings, aberrations); 0 = Gaussian.
    #[arg(long, default_value_t = SimParams::default().probe_tail)]
    probe_tail: f64,
    /// σ of the probe's tail (Å).
    #[arg(long, default_value_t = SimParams::default().probe_tail_sigma)]
    probe_tail_sigma: f64,
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

impl TryFrom<&SimulateArgs> for SimParams {
    type Error = anyhow::Error;

    fn try_from(a: &SimulateArgs) -> Result<Self> {
        let edge = |v: i64, name: &str| -> Result<usize> {
            if v <= 0 {
                bail!("invalid simulation parameter: frame {name} must be a positive number of pixels, got {v}");
            }
            Ok(v as usize)
        };
        Ok(SimParams {
            height: edge(a.size[0], "height")?,
            width: edge(a.size[1], "width")?,
            pixel_size: a.pixel_size,
            probe_sigma: a.probe_sigma,
            dose: a.dose,
            read_noise: a.read_noise,
            si_fraction: a.si_fraction,
            vacancy_fraction: a.vacancy_fraction,
            holes: a.holes,
            hole_radius: [a.hole_radius[0], a.hole_radius[1]],
            grains: a.grains,
            stone_wales: a.stone_wales,
            contamination: a.contamination,
            contamination_radius: a.contamination_radius,
            contamination_weight: a.contamination_weight,
            probe_tail: a.probe_tail,
            probe_tail_sigma: a.probe_tail_sigma,
            rotation: a.rotation,
            line_jitter: a.line_jitter,
            drift: a.drift,
            background: a.background,
            z_exponent: a.z_exponent,
            label_radius: a.label_radius,
        })
    }
}

impl From<&SimulateArgs> for MovieParams {
    fn from(a: &SimulateArgs) -> Self {
        MovieParams {
            frames: a.frames,
            hole_growth: a.hole_growth,
            vacancy_rate: a.vacancy_rate,
            hole_nucleation: a.hole_nucleation,
            si_hop_probability: a.si_hop_probability,
            rotation_per_frame: a.rotation_per_frame,
            stage_drift: a.stage_drift,
        }
    }
}

pub fn run(args: &SimulateArgs, cancel: &CancelFlag) -> Result<()> {
    let sim = SimParams::try_from(args)?;
    simulate(sim, MovieParams::from(args), args.seed, &args.out, cancel)
}

/// Simulates a movie into `out`; the file appears only when every frame is written.
pub fn simulate(sim: SimParams, movie: MovieParams, seed: u64, out: &Path, cancel: &CancelFlag) -> Result<()> {
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
