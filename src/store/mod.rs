//! `store` — everything atomvae writes to or reads from disk: the HDF5 analysis
//! file (frames → probabilities → atoms → windows → latents, with the models and
//! the provenance of every step; docs/FORMAT.md), model files, the user's input
//! stacks (.npy/.tif/.h5) and simulated movies. Every file is replaced atomically
//! (see [`AtomicFile`]): a crash never leaves a half-written file under a real name.

mod analysis;
mod atomic;
mod browse;
mod input;
mod models;
mod movie;
mod parts;

pub use analysis::{
    fresh_group, load_model_file, now_utc, save_model_file, write_atoms, write_model, AnalysisFile, AnalysisInfo,
    AtomTable, StepRecord, ANALYSIS_FORMAT, ANALYSIS_SCHEMA_VERSION,
};
pub use atomic::AtomicFile;
pub use browse::RawDataset;
pub use input::FrameStack;
pub use models::StoredModel;
pub use movie::{copy_truth_atoms, MovieFormat, MovieMeta, MovieWriter};
pub use parts::{copy_analysis, parts_folder_name, read_parts_map, rename_analysis, NewParts, PARTS_ATTRIBUTE};

use std::io::Read;
use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot use {path}: {reason}")]
    BadPath { path: PathBuf, reason: String },
    #[error("HDF5 error in {path}: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("TIFF error in {path}: {source}")]
    Tiff { path: PathBuf, source: tiff::TiffError },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("cancelled; the previous file was left as it was")]
    Cancelled,
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
    pub fn hdf5(path: &Path, source: hdf5::Error) -> Self {
        Self::Hdf5 { path: path.to_path_buf(), source }
    }
}

pub(crate) fn hdf5_err(path: &Path, source: hdf5::Error) -> StoreError {
    StoreError::hdf5(path, source)
}

pub(crate) fn write_str_attr(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value.parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
    if loc.attr(name).is_ok() {
        loc.delete_attr(name)?;
    }
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&v)
}

/// Writes a JSON value as a string attribute.
pub fn write_json_attr(loc: &hdf5::Location, name: &str, value: &serde_json::Value) -> hdf5::Result<()> {
    write_str_attr(loc, name, &value.to_string())
}

pub(crate) fn read_str_attr(loc: &hdf5::Location, name: &str) -> hdf5::Result<String> {
    Ok(loc.attr(name)?.read_scalar::<VarLenUnicode>()?.as_str().to_string())
}

/// Refuses files that are not HDF5 before the HDF5 library prints its own noise.
/// The superblock signature sits at byte 0, 512, 1024, 2048, … of the file.
pub(crate) fn check_hdf5_signature(path: &Path) -> Result<(), StoreError> {
    const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut head = Vec::new();
    file.by_ref().take(1 << 16).read_to_end(&mut head).map_err(|e| StoreError::io(path, e))?;
    let found =
        std::iter::once(0).chain((9..17).map(|k| 1usize << k)).any(|off| head.get(off..off + 8) == Some(SIGNATURE));
    if found {
        Ok(())
    } else {
        Err(StoreError::Invalid { path: path.to_path_buf(), reason: "not an HDF5 file".into() })
    }
}
