//! The pipeline steps that read and update an analysis file, shared by the CLI and
//! the C ABI: each streams frames, reports progress, can be cancelled, and commits
//! its results atomically with a provenance record.

use ndarray::s;

use crate::progress::Progress;
use crate::segment::{find_atoms, AtomFinderConfig, SegmentError, Segmenter};
use crate::store::{now_utc, write_atoms, write_model, AnalysisFile, AtomTable, StepRecord, StoreError};

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

fn h5(file: &AnalysisFile) -> impl Fn(hdf5::Error) -> StoreError + '_ {
    move |e| StoreError::hdf5(file.path(), e)
}

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
            for a in find_atoms(p.view(), info.pixel_size, finder) {
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

use crate::rvae::{
    train_rvae_rows, Rvae, RvaeConfig, RvaeError, RvaeTrainConfig, RvaeTrainReport, WindowRows, ROWS_PER_UNIT,
};
use crate::subimages::{SubimageError, WindowConfig, WindowCutter, WindowSource};

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

/// Step 4: an rVAE trained on `/subimages`, stored as `/models/rvae` with its
/// training curves in the model's config.
pub fn train_rvae_file(
    file: &mut AnalysisFile,
    model_config: &RvaeConfig,
    train_config: &RvaeTrainConfig,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<(Rvae, RvaeTrainReport), PipelineError> {
    let started = now_utc();
    let windows = StoredWindows::open(file)?;
    let config = RvaeConfig { window: windows.size_px(), ..model_config.clone() };
    let mut model = Rvae::new_seeded(config, device, train_config.seed)?;
    let report = train_rvae_rows(&mut model, &windows, train_config, progress)?;
    drop(windows);
    let mut stored = model.to_stored();
    stored.config["training"] = serde_json::json!({"train_config": train_config, "report": report});
    let record = StepRecord {
        step: "train-rvae".into(),
        parameters: serde_json::json!({"model": model.config(), "training": train_config}),
        started,
        finished: now_utc(),
        device: format!("{device:?}"),
        seed: train_config.seed,
    };
    let path = file.path().to_path_buf();
    file.update(&record, |out| write_model(out, "rvae", &stored).map_err(|e| StoreError::hdf5(&path, e)))?;
    Ok((model, report))
}

/// Step 5: latents of every window with the stored rVAE into `/latents`.
pub fn encode_file(file: &mut AnalysisFile, device: tch::Device) -> Result<crate::rvae::Latents, PipelineError> {
    let started = now_utc();
    if !file.info().models.iter().any(|m| m == "rvae") {
        return Err(PipelineError::Missing(format!(
            "{}: no trained rVAE in /models/rvae; run `train-rvae` first",
            file.path().display()
        )));
    }
    // A model that is there but unreadable is reported as what it is.
    let stored = file.read_model("rvae", Some(crate::rvae::MODEL_KIND))?;
    let model = Rvae::from_stored(&stored, device)?;
    let windows = StoredWindows::open(file)?;
    if windows.size_px() != model.config().window {
        return Err(PipelineError::Missing(format!(
            "the windows are {0}×{0} px but the stored rVAE takes {1}×{1} px; train it again",
            windows.size_px(),
            model.config().window
        )));
    }
    let mut parts = Vec::new();
    let step = 16 * ROWS_PER_UNIT;
    for start in (0..windows.count()).step_by(step) {
        let x = windows.rows(start, step.min(windows.count() - start))?;
        parts.push(model.encode_tensor(&x.to_device(device)));
    }
    drop(windows);
    let latents = crate::rvae::Latents::concatenate(parts)?;
    let record = StepRecord {
        step: "encode".into(),
        parameters: serde_json::json!({"model": "rvae"}),
        started,
        finished: now_utc(),
        device: format!("{device:?}"),
        seed: 0,
    };
    let path = file.path().to_path_buf();
    let e = |err| StoreError::hdf5(&path, err);
    file.update(&record, |out| {
        // An analysis of older latents no longer matches them.
        if out.link_exists("analysis") {
            out.unlink("analysis").map_err(e)?;
        }
        let g = crate::store::fresh_group(out, "latents").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.mean).create("mean").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.logvar).create("logvar").map_err(e)?;
        crate::store::write_json_attr(&g, "columns", &serde_json::to_value(&latents.names).expect("names")).map_err(e)
    })?;
    Ok(latents)
}

mod latents;
mod movie;
pub use latents::{analyse_latents_file, read_sample_windows};
pub use movie::{
    analyze_movie, import_frames, import_movie, load_segmenter, run_step, simulate_movie, AnalyzeSettings, Step,
    PRESETS,
};
