//! The pipeline steps that read and update an analysis file, shared by the CLI and
//! the C ABI: each streams frames, reports progress, can be cancelled, and commits
//! its results atomically with a provenance record.

use crate::rvae::RvaeError;
use crate::segment::SegmentError;
use crate::store::{AnalysisFile, StoreError};
use crate::subimages::SubimageError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error(transparent)]
    Rvae(#[from] RvaeError),
    #[error(transparent)]
    Subimages(#[from] SubimageError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error("{0}")]
    Missing(String),
}

pub(crate) fn h5(file: &AnalysisFile) -> impl Fn(hdf5::Error) -> StoreError + '_ {
    move |e| StoreError::hdf5(file.path(), e)
}

mod atoms;
mod evaluate;
mod evaluate_segmenter;
mod latents;
mod movie;
mod rvae;
mod segment;
mod windows;

pub use atoms::find_atoms_file;
pub use evaluate::{
    encode_windows, read_truth_atoms, read_window_atoms, score_stored_latents, score_training_seeds, SeedScores,
    SeedSpread, Spread, WindowAtoms,
};
pub use evaluate_segmenter::{
    evaluate_segmenter, read_movie_truth, EvaluationFrames, FrameScores, MatchSettings, SegmenterEvaluation,
};
pub use latents::{analyse_latents_file, read_sample_windows};
pub use movie::{
    analyze_movie, demo_movie, import_frames, import_movie, load_segmenter, run_step, simulate_movie, AnalyzeSettings,
    Step, PRESETS,
};
pub use rvae::{encode_file, train_rvae_file};
pub use segment::segment_file;
pub use windows::{cut_windows_file, StoredWindows, WindowsWritten};
