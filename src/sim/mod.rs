//! `sim` — synthetic atom-resolved HAADF-STEM frames and movies of Si-doped graphene
//! with exact ground truth: the training data of the segmentation network, the
//! demo's input and the tests' fixture.
//!
//! It stands in for the paper's experimental movies (Kalinin et al., Sci. Adv. 7,
//! eabd5084, 2021, Fig. 1: graphene with Si dopants under a 60 kV beam, holes
//! growing frame by frame) and for the simulated training set of its DCNN
//! (Methods, "Deep learning"). Physics: honeycomb lattice a = 2.46 Å, C–C 1.42 Å;
//! incoherent Z-contrast imaging I ∝ Σ Z^1.7 · Gaussian probe; Poisson counting
//! noise at a given dose plus detector read noise.
//!
//! Random choices come from ChaCha8 streams derived from one seed: the specimen
//! (and its evolution) from stream 0, the noise of frame k from stream k + 1, so a
//! seed and parameters fix every frame bit for bit.

mod geometry;
mod params;
mod render;
mod sample;

pub use geometry::{rotate, Blob, NeighborGrid, Point};
pub use params::{MovieParams, SimParams, CC_BOND, LATTICE_CONSTANT, MAX_PIXEL_SIZE};
pub use render::{
    gaussian_blur, image_sample, label_mask, probability_targets, z_weight, SimFrame, TruthAtom, CLASS_BACKGROUND,
    CLASS_CARBON, CLASS_NAMES, CLASS_SILICON,
};
pub use sample::{honeycomb, Sample, SampleAtom, Z_CARBON, Z_SILICON};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Errors of the simulator: all are bad parameters, reported before any work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimError {
    #[error("invalid simulation parameter: {0}")]
    InvalidParameter(String),
    #[error(
        "pixel size {pixel_size} Å/px cannot resolve the graphene lattice (C–C bond 1.42 Å); \
         use at most {max} Å/px"
    )]
    LatticeNotResolved { pixel_size: f64, max: f64 },
}

/// A movie of one specimen evolving under the beam; yields one frame at a time so
/// that long movies never sit in memory whole.
pub struct Simulator {
    params: SimParams,
    movie: MovieParams,
    seed: u64,
    sample: Sample,
    evolution: ChaCha8Rng,
    next: usize,
}

impl Simulator {
    pub fn new(params: SimParams, movie: MovieParams, seed: u64) -> Result<Self, SimError> {
        params.validate()?;
        movie.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Room for the stage to wander (≈ 4 σ of a random walk) without empty corners.
        let margin = 4.0 * movie.stage_drift * (movie.frames as f64).sqrt();
        let sample = Sample::build(&params, margin, &mut rng);
        Ok(Self { params, movie, seed, sample, evolution: rng, next: 0 })
    }

    pub fn params(&self) -> &SimParams {
        &self.params
    }

    pub fn movie(&self) -> &MovieParams {
        &self.movie
    }

    /// The specimen as it will be imaged in the next frame.
    pub fn sample(&self) -> &Sample {
        &self.sample
    }

    pub fn frames_left(&self) -> usize {
        self.movie.frames - self.next
    }
}

impl Iterator for Simulator {
    type Item = SimFrame;

    fn next(&mut self) -> Option<SimFrame> {
        if self.next >= self.movie.frames {
            return None;
        }
        if self.next > 0 {
            self.sample.evolve(&self.movie, &mut self.evolution);
        }
        let mut noise = render::frame_rng(self.seed, self.next);
        let frame = image_sample(&self.sample, &self.params, self.next, &mut noise);
        self.next += 1;
        Some(frame)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.frames_left(), Some(self.frames_left()))
    }
}

/// One frame with `params`, seeded.
pub fn simulate_frame(params: &SimParams, seed: u64) -> Result<SimFrame, SimError> {
    let mut sim = Simulator::new(params.clone(), MovieParams { frames: 1, ..MovieParams::default() }, seed)?;
    Ok(sim.next().expect("one frame"))
}
