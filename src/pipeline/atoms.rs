//! Step 2 (the paper's Methods, atom finding): blobs of the class probabilities
//! become atoms with a class and a confidence, into `/atoms`; a Si is checked
//! against the frame's intensity (`segment::species`).

use ndarray::s;

use super::{h5, PipelineError};
use crate::progress::Progress;
use crate::segment::{check_silicon, find_atoms, AtomFinderConfig, SegmentError};
use crate::sim::CLASS_SILICON;
use crate::store::{now_utc, write_atoms, AnalysisFile, AtomTable, StepRecord, StoreError};

/// Step 2: atoms from `/probabilities` into `/atoms`.
pub fn find_atoms_file(
    file: &mut AnalysisFile,
    finder: &AtomFinderConfig,
    progress: &mut dyn Progress,
) -> Result<AtomTable, PipelineError> {
    let started = now_utc();
    let info = file.info().clone();
    finder.check(info.pixel_size).map_err(SegmentError::BadInput)?;
    if !info.has_probabilities {
        return Err(PipelineError::Missing(format!(
            "{}: no /probabilities yet; run `segment` first",
            file.path().display()
        )));
    }
    let [n, _, _] = info.frames;
    let mut table = AtomTable::default();
    {
        let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
        let probs = reader.dataset("probabilities").map_err(h5(file))?;
        progress.start("atoms", n as u64);
        for k in 0..n {
            if progress.cancelled() {
                return Err(StoreError::Cancelled.into());
            }
            let p: ndarray::Array3<f32> = probs.read_slice(s![k, .., .., ..]).map_err(h5(file))?;
            let mut found = find_atoms(p.view(), info.pixel_size, finder);
            // The frame is read only when there is a Si to check.
            if finder.si_min_ratio > 0.0 && found.iter().any(|a| a.class == CLASS_SILICON) {
                let frame = file.read_frame(k)?;
                check_silicon(frame.view(), info.pixel_size, &mut found, finder.si_min_ratio);
            }
            for a in found {
                table.frame.push(k as u32);
                table.y.push(a.y as f32);
                table.x.push(a.x as f32);
                table.class.push(a.class);
                table.confidence.push(a.confidence);
            }
            progress.advance(1);
        }
        progress.finish();
    }
    let record = StepRecord {
        step: "atoms".into(),
        parameters: serde_json::to_value(finder).expect("config"),
        started,
        finished: now_utc(),
        device: "cpu".into(),
        seed: 0,
    };
    let path = file.path().to_path_buf();
    file.update(&record, |out| -> Result<(), StoreError> {
        // Windows and latents made from an older atom table go with the update
        // (`AnalysisFile::update` removes every later step's results).
        write_atoms(out, &table).map_err(|e| StoreError::hdf5(&path, e))
    })?;
    Ok(table)
}
