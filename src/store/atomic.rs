//! Crash-safe file replacement: write to a hidden temporary file in the target's
//! folder, flush it to disk, then rename it over the target. A reader sees either
//! the old file or the complete new one, never a half-written file; a failed or
//! killed writer leaves at most a stray `.NAME.tmp-*` file, never a broken NAME.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Prepares to replace `target`. Fails at once, before any work, when the
    /// folder does not exist or cannot be written.
    pub fn new(target: &Path) -> Result<Self, StoreError> {
        let name = target
            .file_name()
            .ok_or_else(|| StoreError::BadPath { path: target.to_path_buf(), reason: "it names no file".into() })?
            .to_string_lossy()
            .into_owned();
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(StoreError::BadPath { path: target.to_path_buf(), reason: "its folder does not exist".into() });
        }
        if target.is_dir() {
            return Err(StoreError::BadPath { path: target.to_path_buf(), reason: "it is a folder".into() });
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        // Probe writability now rather than after minutes of computation.
        std::fs::File::create(&temp).map_err(|e| StoreError::io(target, e))?;
        Ok(Self { target: target.to_path_buf(), temp, committed: false })
    }

    /// Where the writer should put the bytes.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes the new file durable and moves it into place.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let file =
            std::fs::OpenOptions::new().read(true).open(&self.temp).map_err(|e| StoreError::io(&self.target, e))?;
        file.sync_all().map_err(|e| StoreError::io(&self.target, e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| StoreError::io(&self.target, e))?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself must survive a power cut; not all filesystems allow this.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
