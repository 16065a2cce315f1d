//! Step 1 (the paper's Fig. 2): the U-Net's class probabilities of every frame
//! into `/probabilities` (a part file of its own), the model into `/models/segmenter`.

use ndarray::s;

use super::PipelineError;
use crate::progress::Progress;
use crate::segment::{SegmentError, Segmenter};
use crate::store::{now_utc, write_model, AnalysisFile, StepRecord, StoreError};

/// Step 1: class probabilities of every frame into `/probabilities`, the model into
/// `/models/segmenter`.
pub fn segment_file(
    file: &mut AnalysisFile,
    segmenter: &Segmenter,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<(), PipelineError> {
    let started = now_utc();
    let info = file.info().clone();
    if info.class_names != segmenter.config().class_names {
        return Err(PipelineError::Missing(format!(
            "the file's classes {:?} differ from the model's {:?}",
            info.class_names,
            segmenter.config().class_names
        )));
    }
    let [n, h, w] = info.frames;
    let classes = info.class_names.len();
    let record = StepRecord {
        step: "segment".into(),
        parameters: serde_json::json!({"model": segmenter.config()}),
        started,
        finished: now_utc(),
        device: format!("{:?}", segmenter.device()),
        seed,
    };
    let path = file.path().to_path_buf();
    let err = |e: hdf5::Error| StoreError::hdf5(&path, e);
    let reader = hdf5::File::open(&path).map_err(err)?;
    file.update_with_parts(&record, |out, parts| -> Result<(), PipelineError> {
        let part = parts.create(out, "probabilities")?;
        let probs = part
            .new_dataset::<f32>()
            .shape([n, classes, h, w])
            .chunk([1, 1, h, w])
            .deflate(1)
            .create("probabilities")
            .map_err(err)?;
        let frames = reader.dataset("frames").map_err(err)?;
        progress.start("segment", n as u64);
        for k in 0..n {
            if progress.cancelled() {
                return Err(StoreError::Cancelled.into());
            }
            let frame: ndarray::Array2<f32> = frames.read_slice_2d(s![k, .., ..]).map_err(err)?;
            let p = segmenter
                .predict(frame.view(), info.pixel_size)
                .map_err(|e| SegmentError::BadInput(format!("frame {k}: {e}")))?;
            probs.write_slice(&p, s![k, .., .., ..]).map_err(err)?;
            progress.advance(1);
        }
        progress.finish();
        write_model(out, "segmenter", &segmenter.to_stored()).map_err(err)?;
        Ok(())
    })
}
