//! `store` — everything atomvae writes to or reads from disk. Every file is
//! replaced atomically (see [`AtomicFile`]). At this stage: simulated movies as
//! HDF5 (frames + ground truth + provenance), NumPy `.npy` or multi-page TIFF.

mod atomic;
mod movie;

pub use atomic::AtomicFile;
pub use movie::{MovieFormat, MovieMeta, MovieWriter, SCHEMA_VERSION};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot use {path}: {reason}")]
    BadPath { path: PathBuf, reason: String },
    #[error("HDF5 error in {path}: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("TIFF error in {path}: {source}")]
    Tiff { path: PathBuf, source: tiff::TiffError },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl StoreError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
    pub fn hdf5(path: &Path, source: hdf5::Error) -> Self {
        Self::Hdf5 { path: path.to_path_buf(), source }
    }
}
