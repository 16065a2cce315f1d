//! Step 3 (the paper's Methods, sub-images): a window around every atom into
//! `/subimages` (a part file of its own), and the stored windows read back on
//! demand for the rVAE steps.

use ndarray::s;

use super::{h5, PipelineError};
use crate::progress::Progress;
use crate::rvae::{RvaeError, WindowRows, ROWS_PER_UNIT};
use crate::store::{now_utc, AnalysisFile, StepRecord, StoreError};
use crate::subimages::{WindowConfig, WindowCutter, WindowSource};

/// What `subimages` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsWritten {
    pub count: usize,
    pub size_px: usize,
}

/// Step 3: windows around the atoms of `/atoms` into `/subimages`, written frame by
/// frame (in whole chunks) so that the stack is never held in memory.
pub fn cut_windows_file(
    file: &mut AnalysisFile,
    config: &WindowConfig,
    progress: &mut dyn Progress,
) -> Result<WindowsWritten, PipelineError> {
    let started = now_utc();
    let info = file.info().clone();
    let atoms = file.read_atoms()?.ok_or_else(|| {
        PipelineError::Missing(format!("{}: no /atoms yet; run `atoms` first", file.path().display()))
    })?;
    if config.source == WindowSource::Atoms && !info.has_probabilities {
        return Err(PipelineError::Missing(format!(
            "{}: windows from probabilities need /probabilities; run `segment` (or use --source frames)",
            file.path().display()
        )));
    }
    let mut cutter = WindowCutter::new(config.clone(), info.pixel_size)?;
    let w = cutter.size();
    let n_frames = info.frames[0];
    let mut rows_of_frame: Vec<Vec<(u64, f32, f32, u8)>> = vec![Vec::new(); n_frames];
    for i in 0..atoms.len() {
        if let Some(rows) = rows_of_frame.get_mut(atoms.frame[i] as usize) {
            rows.push((i as u64, atoms.y[i], atoms.x[i], atoms.class[i]));
        }
    }
    let record = StepRecord {
        step: "subimages".into(),
        parameters: serde_json::to_value(config).expect("config"),
        started,
        finished: now_utc(),
        device: "cpu".into(),
        seed: 0,
    };
    let path = file.path().to_path_buf();
    let e = |err| StoreError::hdf5(&path, err);
    let mut written = WindowsWritten { count: 0, size_px: w };
    let reader = hdf5::File::open(&path).map_err(e)?;
    file.update_with_parts(&record, |out, parts| -> Result<(), PipelineError> {
        let part = parts.create(out, "subimages")?;
        let g = part.create_group("subimages").map_err(e)?;
        let data = g
            .new_dataset::<f32>()
            .shape([hdf5::Extent::resizable(0), hdf5::Extent::fixed(w), hdf5::Extent::fixed(w)])
            .chunk([ROWS_PER_UNIT, w, w])
            .deflate(1)
            .create("windows")
            .map_err(e)?;
        // Pending windows are flushed in whole chunks (a partial chunk written twice
        // would be compressed twice).
        let mut pending: Vec<f32> = Vec::new();
        let mut flush = |pending: &mut Vec<f32>, all: bool| -> Result<(), PipelineError> {
            let rows = pending.len() / (w * w);
            let take = if all { rows } else { rows / ROWS_PER_UNIT * ROWS_PER_UNIT };
            if take == 0 {
                return Ok(());
            }
            let block = ndarray::ArrayView3::from_shape((take, w, w), &pending[..take * w * w]).expect("whole windows");
            data.resize([written.count + take, w, w]).map_err(e)?;
            data.write_slice(block, s![written.count..written.count + take, .., ..]).map_err(e)?;
            written.count += take;
            pending.drain(..take * w * w);
            Ok(())
        };
        let frames = reader.dataset("frames").map_err(e)?;
        let probabilities = reader.dataset("probabilities").ok();
        progress.start("subimages", n_frames as u64);
        for (k, rows) in rows_of_frame.iter().enumerate() {
            if progress.cancelled() {
                return Err(StoreError::Cancelled.into());
            }
            let image: ndarray::Array2<f32> = match (config.source, &probabilities) {
                (WindowSource::Atoms, Some(p)) => {
                    let p: ndarray::Array3<f32> = p.read_slice(s![k, 1.., .., ..]).map_err(e)?;
                    p.sum_axis(ndarray::Axis(0))
                }
                _ => frames.read_slice_2d(s![k, .., ..]).map_err(e)?,
            };
            cutter.add_frame(k as u32, image.view(), rows)?;
            pending.extend(cutter.take_pixels());
            flush(&mut pending, false)?;
            progress.advance(1);
        }
        flush(&mut pending, true)?;
        progress.finish();
        let windows = cutter.finish();
        if windows.is_empty() {
            return Err(PipelineError::Missing(
                "no atom of the chosen class has a whole window inside its frame".into(),
            ));
        }
        g.new_dataset_builder().with_data(&windows.atom_index).create("atom_index").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.frame).create("frame").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.y).create("y").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.x).create("x").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.class).create("class").map_err(e)?;
        g.new_attr::<u64>().create("size_px").and_then(|a| a.write_scalar(&(w as u64))).map_err(e)?;
        Ok(())
    })?;
    Ok(written)
}

/// `/subimages/windows` read on demand, a range of rows at a time (the rVAE steps
/// never hold the whole stack unless it is small).
pub struct StoredWindows {
    dataset: hdf5::Dataset,
    path: std::path::PathBuf,
    count: usize,
    size_px: usize,
}

impl StoredWindows {
    pub fn open(file: &AnalysisFile) -> Result<Self, PipelineError> {
        let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
        let dataset = reader.dataset("subimages/windows").map_err(|_| {
            PipelineError::Missing(format!("{}: no /subimages yet; run `subimages` first", file.path().display()))
        })?;
        let shape = dataset.shape();
        match shape.as_slice() {
            &[n, h, w] if h == w && n > 0 => {
                Ok(Self { dataset, path: file.path().to_path_buf(), count: n, size_px: w })
            }
            _ => Err(PipelineError::Missing(format!(
                "{}: /subimages/windows has shape {shape:?}, not (N ≥ 1, w, w)",
                file.path().display()
            ))),
        }
    }

    pub fn size_px(&self) -> usize {
        self.size_px
    }
}

impl WindowRows for StoredWindows {
    fn count(&self) -> usize {
        self.count
    }

    fn pixels(&self) -> usize {
        self.size_px * self.size_px
    }

    fn rows(&self, start: usize, len: usize) -> Result<tch::Tensor, RvaeError> {
        let part: ndarray::Array3<f32> = self
            .dataset
            .read_slice(s![start..start + len, .., ..])
            .map_err(|err| RvaeError::BadInput(StoreError::hdf5(&self.path, err).to_string()))?;
        let values = part.as_slice().expect("a fresh array is contiguous");
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(RvaeError::BadInput(format!(
                "{}: window {} has a NaN or infinite pixel",
                self.path.display(),
                start + k / self.pixels()
            )));
        }
        Ok(tch::Tensor::from_slice(values).view([len as i64, self.pixels() as i64]))
    }
}
