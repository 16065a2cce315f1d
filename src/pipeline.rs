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
    let mut failure: Option<PipelineError> = None;
    let result = file.update(&record, |out| {
        if out.link_exists("probabilities") {
            out.unlink("probabilities").map_err(err)?;
        }
        let probs = out
            .new_dataset::<f32>()
            .shape([n, classes, h, w])
            .chunk([1, 1, h, w])
            .deflate(1)
            .create("probabilities")
            .map_err(err)?;
        let frames = out.dataset("frames").map_err(err)?;
        progress.start("segment", n as u64);
        for k in 0..n {
            if progress.cancelled() {
                return Err(StoreError::Cancelled);
            }
            let frame: ndarray::Array2<f32> = frames.read_slice_2d(s![k, .., ..]).map_err(err)?;
            let p = match segmenter.predict(frame.view(), info.pixel_size) {
                Ok(p) => p,
                Err(e) => {
                    failure = Some(PipelineError::Segment(SegmentError::BadInput(format!("frame {k}: {e}"))));
                    return Err(StoreError::Cancelled);
                }
            };
            probs.write_slice(&p, s![k, .., .., ..]).map_err(err)?;
            progress.advance(1);
        }
        progress.finish();
        write_model(out, "segmenter", &segmenter.to_stored()).map_err(err)?;
        Ok(())
    });
    match (result, failure) {
        (_, Some(f)) => Err(f),
        (r, None) => Ok(r?),
    }
}

/// Step 2: atoms from `/probabilities` into `/atoms`.
pub fn find_atoms_file(
    file: &mut AnalysisFile,
    finder: &AtomFinderConfig,
    progress: &mut dyn Progress,
) -> Result<AtomTable, PipelineError> {
    let started = now_utc();
    let info = file.info().clone();
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
                if !finder.inside_border(a.y, a.x, (info.frames[1], info.frames[2])) {
                    continue;
                }
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
    file.update(&record, |out| {
        write_atoms(out, &table).map_err(|e| StoreError::hdf5(&path, e))?;
        // Windows and latents made from an older atom table no longer match it.
        for stale in ["subimages", "latents"] {
            if out.link_exists(stale) {
                out.unlink(stale).map_err(|e| StoreError::hdf5(&path, e))?;
            }
        }
        Ok(())
    })?;
    Ok(table)
}

use crate::rvae::{train_rvae_tensor, Rvae, RvaeConfig, RvaeError, RvaeTrainConfig, RvaeTrainReport};
use crate::subimages::{SubimageError, WindowConfig, WindowCutter, WindowSource, Windows};

impl From<RvaeError> for PipelineError {
    fn from(e: RvaeError) -> Self {
        PipelineError::Missing(e.to_string())
    }
}

impl From<SubimageError> for PipelineError {
    fn from(e: SubimageError) -> Self {
        PipelineError::Missing(e.to_string())
    }
}

/// Step 3: windows around the atoms of `/atoms` into `/subimages`.
pub fn cut_windows_file(
    file: &mut AnalysisFile,
    config: &WindowConfig,
    progress: &mut dyn Progress,
) -> Result<Windows, PipelineError> {
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
    {
        let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
        let n = info.frames[0];
        progress.start("subimages", n as u64);
        let mut rows_of_frame: Vec<Vec<(u64, f32, f32, u8)>> = vec![Vec::new(); n];
        for i in 0..atoms.len() {
            if let Some(rows) = rows_of_frame.get_mut(atoms.frame[i] as usize) {
                rows.push((i as u64, atoms.y[i], atoms.x[i], atoms.class[i]));
            }
        }
        for (k, rows) in rows_of_frame.iter().enumerate() {
            if progress.cancelled() {
                return Err(StoreError::Cancelled.into());
            }
            let image: ndarray::Array2<f32> = match config.source {
                WindowSource::Frames => {
                    reader.dataset("frames").and_then(|d| d.read_slice_2d(s![k, .., ..])).map_err(h5(file))?
                }
                WindowSource::Atoms => {
                    let p: ndarray::Array3<f32> = reader
                        .dataset("probabilities")
                        .and_then(|d| d.read_slice(s![k, 1.., .., ..]))
                        .map_err(h5(file))?;
                    p.sum_axis(ndarray::Axis(0))
                }
            };
            cutter.add_frame(k as u32, image.view(), rows)?;
            progress.advance(1);
        }
        progress.finish();
    }
    let windows = cutter.finish();
    if windows.is_empty() {
        return Err(PipelineError::Missing("no atom of the chosen class has a whole window inside its frame".into()));
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
    file.update(&record, |out| {
        let g = crate::store::fresh_group(out, "subimages").map_err(e)?;
        let w = windows.size();
        g.new_dataset::<f32>()
            .shape([windows.len(), w, w])
            .chunk([windows.len().clamp(1, 1024), w, w])
            .deflate(1)
            .create("windows")
            .and_then(|d| d.write(&windows.data))
            .map_err(e)?;
        g.new_dataset_builder().with_data(&windows.atom_index).create("atom_index").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.frame).create("frame").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.y).create("y").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.x).create("x").map_err(e)?;
        g.new_dataset_builder().with_data(&windows.class).create("class").map_err(e)?;
        g.new_attr::<u64>().create("size_px").and_then(|a| a.write_scalar(&(w as u64))).map_err(e)?;
        if out.link_exists("latents") {
            out.unlink("latents").map_err(e)?;
        }
        Ok(())
    })?;
    Ok(windows)
}

fn windows_dataset(file: &AnalysisFile, reader: &hdf5::File) -> Result<hdf5::Dataset, PipelineError> {
    reader.dataset("subimages/windows").map_err(|_| {
        PipelineError::Missing(format!("{}: no /subimages yet; run `subimages` first", file.path().display()))
    })
}

/// Reads `/subimages/windows` chunk by chunk straight into one (N, w·w) CPU tensor,
/// so that only one copy of the (possibly ~1 GB) window stack is ever held.
pub fn read_windows_tensor(file: &AnalysisFile) -> Result<(tch::Tensor, usize), PipelineError> {
    let reader = hdf5::File::open(file.path()).map_err(h5(file))?;
    let ds = windows_dataset(file, &reader)?;
    let shape = ds.shape();
    let [n, h, w] = <[usize; 3]>::try_from(shape.as_slice())
        .map_err(|_| PipelineError::Missing(format!("/subimages/windows has shape {shape:?}, not (N, w, w)")))?;
    if h != w || n == 0 {
        return Err(PipelineError::Missing(format!("/subimages/windows has shape {shape:?}, not (N ≥ 1, w, w)")));
    }
    let out = tch::Tensor::zeros([n as i64, (w * w) as i64], (tch::Kind::Float, tch::Device::Cpu));
    let chunk = 4096;
    let mut start = 0;
    while start < n {
        let len = chunk.min(n - start);
        let part: ndarray::Array3<f32> = ds.read_slice(s![start..start + len, .., ..]).map_err(h5(file))?;
        if let Some(k) = part.iter().position(|v| !v.is_finite()) {
            return Err(PipelineError::Missing(format!("window {} has a NaN or infinite pixel", start + k / (w * w))));
        }
        let values: Vec<f32> = part.into_iter().collect();
        out.narrow(0, start as i64, len as i64)
            .copy_(&tch::Tensor::from_slice(&values).view([len as i64, (w * w) as i64]));
        start += len;
    }
    Ok((out, w))
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
    let (windows, w) = read_windows_tensor(file)?;
    let config = RvaeConfig { window: w, ..model_config.clone() };
    let mut model = Rvae::new_seeded(config, device, train_config.seed)?;
    let report = train_rvae_tensor(&mut model, windows.to_device(device), train_config, progress)?;
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
    let stored = file.read_model("rvae", Some(crate::rvae::MODEL_KIND)).map_err(|_| {
        PipelineError::Missing(format!(
            "{}: no trained rVAE in /models/rvae; run `train-rvae` first",
            file.path().display()
        ))
    })?;
    let model = Rvae::from_stored(&stored, device)?;
    let (windows, w) = read_windows_tensor(file)?;
    if w != model.config().window {
        return Err(PipelineError::Missing(format!(
            "the windows are {w}×{w} px but the stored rVAE takes {0}×{0} px; train it again",
            model.config().window
        )));
    }
    let latents = model.encode_tensor(&windows.to_device(device));
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
        let g = crate::store::fresh_group(out, "latents").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.mean).create("mean").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.logvar).create("logvar").map_err(e)?;
        crate::store::write_json_attr(&g, "columns", &serde_json::to_value(&latents.names).expect("names")).map_err(e)
    })?;
    Ok(latents)
}
