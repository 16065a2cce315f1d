//! Scoring a segmentation model's atom finding (paper, Methods "Deep learning": the
//! DCNN's atoms and their species) against ground truth, frame by frame: on frames
//! simulated from seeds training never draws, or on a stored movie with
//! `/truth/atoms` (e.g. the multislice dev set of bench/multislice). One path for
//! the CLI, the tests and the benchmarks. Atoms are found by `Segmenter::find_atoms`
//! (on the model's grid, mapped back, Si check included); the `atoms` step finds them
//! on the probabilities resampled to the frame's pixels, which can differ by about
//! one atom in 150.

use std::path::Path;

use serde::Serialize;

use super::PipelineError;
use crate::progress::Progress;
use crate::segment::{score_atoms, AtomFinderConfig, AtomScores, Segmenter};
use crate::sim::{SimParams, TruthAtom};
use crate::store::{FrameStack, StoreError};

/// Where the scored frames come from.
pub enum EvaluationFrames<'a> {
    /// `count` frames simulated with `params`, seeds `first_seed`, `first_seed + 1`, …
    Simulated { params: &'a SimParams, first_seed: u64, count: usize },
    /// Every frame of a movie file holding `/frames`, its pixel size and `/truth/atoms`.
    Movie(&'a Path),
}

/// How scoring matches found atoms to true ones.
#[derive(Debug, Clone, Serialize)]
pub struct MatchSettings {
    /// Largest distance (Å) of a found atom from its true atom.
    pub radius: f64,
    /// Atoms within this many pixels of the frame's edge are not scored.
    pub border: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameScores {
    pub frame: usize,
    /// Wall time of segmentation and atom finding (s).
    pub seconds: f64,
    pub scores: AtomScores,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmenterEvaluation {
    pub pixel_size: f64,
    pub frames: Vec<FrameScores>,
    /// Counts pooled over all frames.
    pub pooled: AtomScores,
}

/// The ground-truth atoms of a movie file (`/truth/atoms/{frame,y,x,class,z}`;
/// grain and sublattice when present).
pub fn read_movie_truth(path: &Path) -> Result<Vec<TruthAtom>, PipelineError> {
    let h5 = |e| StoreError::hdf5(path, e);
    let file = hdf5::File::open(path).map_err(h5)?;
    let atoms = file.group("truth/atoms").map_err(|_| {
        PipelineError::Missing(format!(
            "{}: no /truth/atoms to score against (a movie with ground truth)",
            path.display()
        ))
    })?;
    let column = |name: &str| atoms.dataset(name).and_then(|d| d.read_raw::<f64>()).map_err(h5);
    let optional = |name: &str| if atoms.link_exists(name) { column(name).map(Some) } else { Ok(None) };
    let (frame, y, x, class, z) = (column("frame")?, column("y")?, column("x")?, column("class")?, column("z")?);
    let (grain, sublattice) = (optional("grain")?, optional("sublattice")?);
    let lengths = [y.len(), x.len(), class.len(), z.len()];
    if lengths.iter().any(|&n| n != frame.len()) {
        return Err(PipelineError::Missing(format!("{}: /truth/atoms columns differ in length", path.display())));
    }
    let at = |col: &Option<Vec<f64>>, k: usize| col.as_ref().map_or(0, |c| c[k] as u8);
    Ok((0..frame.len())
        .map(|k| TruthAtom {
            frame: frame[k] as u32,
            y: y[k] as f32,
            x: x[k] as f32,
            class: class[k] as u8,
            z: z[k] as u8,
            grain: at(&grain, k),
            sublattice: at(&sublattice, k),
        })
        .collect())
}

/// Segments every frame, finds its atoms with `finder` and scores them.
pub fn evaluate_segmenter(
    segmenter: &Segmenter,
    frames: EvaluationFrames,
    finder: &AtomFinderConfig,
    matching: &MatchSettings,
    progress: &mut dyn Progress,
) -> Result<SegmenterEvaluation, PipelineError> {
    let mut scored = Vec::new();
    let mut score = |k: usize, image: ndarray::ArrayView2<f32>, pixel_size: f64, truth: &[TruthAtom]| {
        let t0 = std::time::Instant::now();
        let (found, _) = segmenter.find_atoms(image, pixel_size, finder)?;
        let seconds = t0.elapsed().as_secs_f64();
        let scores = score_atoms(&found, truth, image.dim(), pixel_size, matching.radius, matching.border);
        scored.push(FrameScores { frame: k, seconds, scores });
        Ok::<_, PipelineError>(())
    };
    let pixel_size = match frames {
        EvaluationFrames::Simulated { params, first_seed, count } => {
            progress.start("evaluating on simulated frames", count as u64);
            for k in 0..count {
                let frame = crate::sim::simulate_frame(params, first_seed + k as u64)?;
                score(k, frame.image.view(), params.pixel_size, &frame.atoms)?;
                progress.advance(1);
                if progress.cancelled() {
                    return Err(crate::segment::SegmentError::Cancelled.into());
                }
            }
            params.pixel_size
        }
        EvaluationFrames::Movie(path) => {
            let mut stack = FrameStack::open(path, None)?;
            let pixel_size = stack.pixel_size().ok_or_else(|| {
                PipelineError::Missing(format!("{}: no pixel size (attribute pixel_size_angstrom)", path.display()))
            })?;
            let truth = read_movie_truth(path)?;
            progress.start("evaluating on the movie's frames", stack.len() as u64);
            for k in 0..stack.len() {
                let image = stack.frame(k)?;
                let in_frame: Vec<TruthAtom> = truth.iter().filter(|a| a.frame as usize == k).copied().collect();
                score(k, image.view(), pixel_size, &in_frame)?;
                progress.advance(1);
                if progress.cancelled() {
                    return Err(crate::segment::SegmentError::Cancelled.into());
                }
            }
            pixel_size
        }
    };
    progress.finish();
    let pooled = AtomScores::pooled(&scored.iter().map(|f| f.scores.clone()).collect::<Vec<_>>());
    Ok(SegmenterEvaluation { pixel_size, frames: scored, pooled })
}
