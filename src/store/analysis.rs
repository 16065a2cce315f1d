//! The analysis file: one HDF5 file per analysed movie that holds the frames, the
//! class probabilities, the atom table, the windows, the latents, the models that
//! made them and the provenance of every step (layout in docs/FORMAT.md). Every
//! change is made on a copy in the same folder that is renamed into place, so a
//! crash leaves the previous complete file.

use std::path::{Path, PathBuf};

use ndarray::{s, Array2};

use super::input::FrameStack;
use super::models::StoredModel;
use super::parts::{check_parts, compact_copy, copy_analysis, read_parts_map, store_parts_map, NewParts};
use super::{check_hdf5_signature, hdf5_err, read_str_attr, write_str_attr, AtomicFile, StoreError};
use crate::progress::Progress;

/// Version of the layout; files of a newer version are refused.
pub const ANALYSIS_SCHEMA_VERSION: u32 = 1;
/// Value of the root attribute `format` that marks an atomvae analysis file.
pub const ANALYSIS_FORMAT: &str = "atomvae-analysis";

/// One row per atom: the output of atom finding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AtomTable {
    pub frame: Vec<u32>,
    pub y: Vec<f32>,
    pub x: Vec<f32>,
    pub class: Vec<u8>,
    pub confidence: Vec<f32>,
}

impl AtomTable {
    pub fn len(&self) -> usize {
        self.frame.len()
    }
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
}

/// What a step records about itself in `/provenance/<step>`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    pub step: String,
    pub parameters: serde_json::Value,
    pub started: String,
    pub finished: String,
    pub device: String,
    pub seed: u64,
}

/// The steps that change an analysis file, in their order, with what each writes.
/// A step's update removes the results and records of every later step in the same
/// atomic replacement, so the file never shows results that no longer follow from
/// their inputs (a re-run `segment` leaves no atoms of the old probabilities).
pub const STEP_OUTPUTS: &[(&str, &[&str])] = &[
    ("segment", &["probabilities", "models/segmenter"]),
    ("atoms", &["atoms"]),
    ("subimages", &["subimages"]),
    ("train-rvae", &["models/rvae"]),
    ("encode", &["latents"]),
    ("analysis", &["analysis", "models/conv_ae", "models/vae"]),
];

/// Removes the results and provenance of every step after `step` (nothing for a
/// step outside [`STEP_OUTPUTS`], e.g. `import`).
fn remove_downstream(file: &hdf5::File, step: &str) -> hdf5::Result<()> {
    let Some(at) = STEP_OUTPUTS.iter().position(|(name, _)| *name == step) else { return Ok(()) };
    for (later, outputs) in &STEP_OUTPUTS[at + 1..] {
        for path in outputs.iter().map(|o| o.to_string()).chain([format!("provenance/{later}")]) {
            if file.link_exists(&path) {
                file.unlink(&path)?;
            }
        }
    }
    Ok(())
}

/// The paths a run of `step` replaces: its own results and record, and the results
/// and records of every later step.
fn replaced_by(step: &str) -> Vec<String> {
    let Some(at) = STEP_OUTPUTS.iter().position(|(name, _)| *name == step) else {
        return vec![format!("provenance/{step}")];
    };
    STEP_OUTPUTS[at..]
        .iter()
        .flat_map(|(name, outputs)| outputs.iter().map(|o| o.to_string()).chain([format!("provenance/{name}")]))
        .collect()
}

/// Summary of a validated analysis file.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisInfo {
    pub schema_version: u32,
    /// (frames, height, width).
    pub frames: [usize; 3],
    pub pixel_size: f64,
    pub class_names: Vec<String>,
    pub has_probabilities: bool,
    pub atoms: Option<usize>,
    pub windows: Option<usize>,
    pub latents: Option<usize>,
    /// `/analysis` (the latent analysis of `report`) is present.
    pub has_analysis: bool,
    pub models: Vec<String>,
    pub steps: Vec<String>,
}

/// A validated analysis file on disk.
#[derive(Debug, Clone)]
pub struct AnalysisFile {
    path: PathBuf,
    info: AnalysisInfo,
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (H. Hinnant), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl AnalysisFile {
    /// Creates `path` from a stack of frames, streaming them one by one. Frames with
    /// NaN or infinite pixels are refused, naming the frame.
    pub fn create_from_stack(
        path: &Path,
        stack: &mut FrameStack,
        pixel_size: f64,
        class_names: &[String],
        record: &StepRecord,
        progress: &mut dyn Progress,
    ) -> Result<Self, StoreError> {
        if !(pixel_size.is_finite() && pixel_size > 0.0) {
            return Err(StoreError::Invalid {
                path: stack.path().to_path_buf(),
                reason: format!("pixel size must be a positive number of Å/px, got {pixel_size}"),
            });
        }
        let atomic = AtomicFile::new(path)?;
        let mut parts = NewParts::new(path);
        let h5 = |e| hdf5_err(path, e);
        let [n, h, w] = stack.shape();
        let linked = {
            let file = hdf5::File::create(atomic.temp_path()).map_err(h5)?;
            file.new_attr::<u32>()
                .create("schema_version")
                .and_then(|a| a.write_scalar(&ANALYSIS_SCHEMA_VERSION))
                .map_err(h5)?;
            write_str_attr(&file, "format", ANALYSIS_FORMAT).map_err(h5)?;
            file.new_attr::<f64>()
                .create("pixel_size_angstrom")
                .and_then(|a| a.write_scalar(&pixel_size))
                .map_err(h5)?;
            write_str_attr(&file, "class_names", &serde_json::to_string(class_names).expect("names")).map_err(h5)?;
            let part = parts.create(&file, "frames")?;
            let frames =
                part.new_dataset::<f32>().shape([n, h, w]).chunk([1, h, w]).deflate(4).create("frames").map_err(h5)?;
            write_str_attr(&frames, "axes", "frame,y,x").map_err(h5)?;
            write_str_attr(&frames, "source", &stack.path().display().to_string()).map_err(h5)?;
            progress.start("import frames", n as u64);
            for k in 0..n {
                if progress.cancelled() {
                    return Err(StoreError::Cancelled);
                }
                let frame = stack.frame(k)?;
                if let Some(bad) = frame.iter().position(|v| !v.is_finite()) {
                    return Err(StoreError::Invalid {
                        path: stack.path().to_path_buf(),
                        reason: format!("frame {k} has a NaN or infinite pixel at (y, x) = ({}, {})", bad / w, bad % w),
                    });
                }
                frames.write_slice(&frame, s![k, .., ..]).map_err(h5)?;
                progress.advance(1);
            }
            progress.finish();
            let prov = file.create_group("provenance").map_err(h5)?;
            write_str_attr(&prov, "software", &format!("atomvae {}", crate::VERSION)).map_err(h5)?;
            write_str_attr(&prov, "git_commit", crate::GIT_COMMIT).map_err(h5)?;
            write_str_attr(&prov, "created", &now_utc()).map_err(h5)?;
            write_step(&prov, record).map_err(h5)?;
            drop(frames);
            part.close().map_err(h5)?;
            let linked = read_parts_map(&file);
            file.close().map_err(h5)?;
            linked
        };
        parts.publish(atomic, &linked)?;
        Self::open(path)
    }

    /// Opens and validates an analysis file, with an error naming the path and the
    /// problem for anything that is not a complete, readable analysis file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::Invalid { path: path.to_path_buf(), reason };
        if !path.exists() {
            return Err(bad("no such file".into()));
        }
        check_hdf5_signature(path)?;
        let file =
            hdf5::File::open(path).map_err(|e| bad(format!("unreadable HDF5 file (truncated or damaged?): {e}")))?;
        let format = read_str_attr(&file, "format").ok();
        let version = file.attr("schema_version").ok().and_then(|a| a.read_scalar::<u32>().ok());
        let Some(version) = version.filter(|_| format.as_deref() == Some(ANALYSIS_FORMAT)) else {
            return Err(bad(
                "an HDF5 file, but not an atomvae analysis file (no format/schema_version attributes)".into()
            ));
        };
        if version > ANALYSIS_SCHEMA_VERSION {
            return Err(bad(format!(
                "written by a newer atomvae (schema version {version}; this atomvae {} reads up to {ANALYSIS_SCHEMA_VERSION})",
                crate::VERSION
            )));
        }
        check_parts(path, &read_parts_map(&file))?;
        let frames = file.dataset("frames").map_err(|_| bad("the dataset /frames is missing".into()))?;
        let dims = frames.shape();
        let [n, h, w] = <[usize; 3]>::try_from(dims.as_slice())
            .map_err(|_| bad(format!("/frames must be (frames, height, width), got shape {dims:?}")))?;
        let pixel_size = file
            .attr("pixel_size_angstrom")
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(|_| bad("the root attribute pixel_size_angstrom is missing".into()))?;
        let class_names: Vec<String> = read_str_attr(&file, "class_names")
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| bad("the root attribute class_names is missing or not a JSON list".into()))?;
        let has_probabilities = match file.dataset("probabilities") {
            Ok(p) => {
                let want = vec![n, class_names.len(), h, w];
                if p.shape() != want {
                    return Err(bad(format!("/probabilities has shape {:?}, expected {want:?}", p.shape())));
                }
                true
            }
            Err(_) => false,
        };
        let column_len = |group: &str, cols: &[&str]| -> Result<Option<usize>, StoreError> {
            let Ok(g) = file.group(group) else { return Ok(None) };
            let mut len = None;
            for c in cols {
                let ds = g.dataset(c).map_err(|_| bad(format!("/{group}/{c} is missing")))?;
                let l = ds.shape().first().copied().unwrap_or(0);
                if *len.get_or_insert(l) != l {
                    return Err(bad(format!("/{group} columns have different lengths")));
                }
            }
            Ok(len)
        };
        let atoms = column_len("atoms", &["frame", "y", "x", "class", "confidence"])?;
        let windows = column_len("subimages", &["windows", "atom_index"])?;
        let latents = column_len("latents", &["mean", "logvar"])?;
        if let (Some(w_n), Some(l_n)) = (windows, latents) {
            if w_n != l_n {
                return Err(bad(format!("{l_n} latent rows for {w_n} windows")));
            }
        }
        let models = file.group("models").and_then(|g| g.member_names()).unwrap_or_default();
        let steps = file.group("provenance").and_then(|g| g.member_names()).unwrap_or_default();
        let info = AnalysisInfo {
            schema_version: version,
            frames: [n, h, w],
            pixel_size,
            class_names,
            has_probabilities,
            atoms,
            windows,
            latents,
            has_analysis: file.link_exists("analysis"),
            models,
            steps,
        };
        Ok(Self { path: path.to_path_buf(), info })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> &AnalysisInfo {
        &self.info
    }

    fn open_read(&self) -> Result<hdf5::File, StoreError> {
        hdf5::File::open(&self.path).map_err(|e| hdf5_err(&self.path, e))
    }

    pub fn read_frame(&self, index: usize) -> Result<Array2<f32>, StoreError> {
        let n = self.info.frames[0];
        if index >= n {
            return Err(StoreError::Invalid { path: self.path.clone(), reason: format!("no frame {index} of {n}") });
        }
        let file = self.open_read()?;
        let ds = file.dataset("frames").map_err(|e| hdf5_err(&self.path, e))?;
        ds.read_slice_2d(s![index, .., ..]).map_err(|e| hdf5_err(&self.path, e))
    }

    pub fn read_atoms(&self) -> Result<Option<AtomTable>, StoreError> {
        let file = self.open_read()?;
        let Ok(g) = file.group("atoms") else { return Ok(None) };
        let e = |err| hdf5_err(&self.path, err);
        Ok(Some(AtomTable {
            frame: g.dataset("frame").and_then(|d| d.read_raw()).map_err(e)?,
            y: g.dataset("y").and_then(|d| d.read_raw()).map_err(e)?,
            x: g.dataset("x").and_then(|d| d.read_raw()).map_err(e)?,
            class: g.dataset("class").and_then(|d| d.read_raw()).map_err(e)?,
            confidence: g.dataset("confidence").and_then(|d| d.read_raw()).map_err(e)?,
        }))
    }

    pub fn read_model(&self, name: &str, expected_kind: Option<&str>) -> Result<StoredModel, StoreError> {
        let file = self.open_read()?;
        let models = file
            .group("models")
            .map_err(|_| StoreError::Invalid { path: self.path.clone(), reason: "no models stored".into() })?;
        StoredModel::read(&models, name, expected_kind, &self.path)
    }

    /// Applies `change` to a copy of the file and moves the copy into place; the
    /// step is recorded in `/provenance/<step>`. On any error the file is untouched.
    pub fn update<E: From<StoreError>>(
        &mut self,
        record: &StepRecord,
        change: impl FnOnce(&hdf5::File) -> Result<(), E>,
    ) -> Result<(), E> {
        self.update_with_parts(record, |file, _| change(file))
    }

    /// As [`Self::update`], for a step that writes a large array into a part file of
    /// its own ([`NewParts::create`]). The copy holds only the small results, so the
    /// update costs what the step computes; the part files no longer linked are
    /// deleted once the new file is in place. Later steps' results are removed
    /// before `change` runs, so their space in the copy is reused.
    ///
    /// `change` reads its inputs through a read-only open of [`Self::path`], not
    /// through the copy (whose links to part files would open them for writing).
    pub fn update_with_parts<E: From<StoreError>>(
        &mut self,
        record: &StepRecord,
        change: impl FnOnce(&hdf5::File, &mut NewParts) -> Result<(), E>,
    ) -> Result<(), E> {
        let atomic = AtomicFile::new(&self.path)?;
        // The copy leaves out what this step replaces and every later step's results,
        // so no space of old results is carried from update to update.
        compact_copy(&self.path, atomic.temp_path(), &replaced_by(&record.step))?;
        let mut parts = NewParts::new(&self.path);
        let linked = {
            let h5 = |e| hdf5_err(&self.path, e);
            let file = hdf5::File::open_rw(atomic.temp_path()).map_err(h5)?;
            remove_downstream(&file, &record.step).map_err(h5)?;
            change(&file, &mut parts)?;
            let linked = read_parts_map(&file);
            store_parts_map(&file, linked).map_err(h5)?;
            let prov = match file.group("provenance") {
                Ok(g) => g,
                Err(_) => file.create_group("provenance").map_err(h5)?,
            };
            // The step ends now, whatever its record said when it was made.
            let record = StepRecord { finished: now_utc(), ..record.clone() };
            write_step(&prov, &record).map_err(h5)?;
            let linked = read_parts_map(&file);
            file.close().map_err(h5)?;
            linked
        };
        parts.publish(atomic, &linked)?;
        *self = Self::open(&self.path)?;
        Ok(())
    }

    /// Copies the file with its part files to `to` (see [`copy_analysis`]) and opens the copy.
    pub fn copy_to(&self, to: &Path) -> Result<Self, StoreError> {
        copy_analysis(&self.path, to)?;
        Self::open(to)
    }
}

/// Replaces (or creates) the group `name` under `parent`.
pub fn fresh_group(parent: &hdf5::Group, name: &str) -> hdf5::Result<hdf5::Group> {
    if parent.link_exists(name) {
        parent.unlink(name)?;
    }
    parent.create_group(name)
}

/// Writes the atom table as `/atoms` (replacing an older one).
pub fn write_atoms(file: &hdf5::File, atoms: &AtomTable) -> hdf5::Result<()> {
    let g = fresh_group(file, "atoms")?;
    g.new_dataset_builder().with_data(&atoms.frame).create("frame")?;
    g.new_dataset_builder().with_data(&atoms.y).create("y")?;
    g.new_dataset_builder().with_data(&atoms.x).create("x")?;
    g.new_dataset_builder().with_data(&atoms.class).create("class")?;
    g.new_dataset_builder().with_data(&atoms.confidence).create("confidence")?;
    write_str_attr(&g, "units", "frame: index; y, x: px ((0, 0) = centre of the top-left pixel); confidence: 0–1")
}

/// Stores `model` as `/models/<name>`.
pub fn write_model(file: &hdf5::File, name: &str, model: &StoredModel) -> hdf5::Result<()> {
    let models = match file.group("models") {
        Ok(g) => g,
        Err(_) => file.create_group("models")?,
    };
    model.write(&models, name)
}

pub(crate) fn write_step(prov: &hdf5::Group, record: &StepRecord) -> hdf5::Result<()> {
    let g = fresh_group(prov, &record.step)?;
    write_str_attr(&g, "parameters", &record.parameters.to_string())?;
    write_str_attr(&g, "started", &record.started)?;
    write_str_attr(&g, "finished", &record.finished)?;
    write_str_attr(&g, "device", &record.device)?;
    write_str_attr(&g, "software", &format!("atomvae {}", crate::VERSION))?;
    write_str_attr(&g, "git_commit", crate::GIT_COMMIT)?;
    g.new_attr::<u64>().create("seed")?.write_scalar(&record.seed)
}

/// Saves a model alone in its own file (same layout: `/models/<name>`).
pub fn save_model_file(path: &Path, name: &str, model: &StoredModel) -> Result<(), StoreError> {
    let atomic = AtomicFile::new(path)?;
    {
        let h5 = |e| hdf5_err(path, e);
        let file = hdf5::File::create(atomic.temp_path()).map_err(h5)?;
        write_str_attr(&file, "format", "atomvae-model").map_err(h5)?;
        file.new_attr::<u32>()
            .create("schema_version")
            .and_then(|a| a.write_scalar(&ANALYSIS_SCHEMA_VERSION))
            .map_err(h5)?;
        write_model(&file, name, model).map_err(h5)?;
        file.close().map_err(h5)?;
    }
    atomic.commit()
}

/// Loads the model `name` (or the only model) from a model file or an analysis file.
pub fn load_model_file(
    path: &Path,
    name: Option<&str>,
    expected_kind: Option<&str>,
) -> Result<StoredModel, StoreError> {
    let bad = |reason: String| StoreError::Invalid { path: path.to_path_buf(), reason };
    check_hdf5_signature(path)?;
    let file = hdf5::File::open(path).map_err(|e| bad(format!("unreadable HDF5 file: {e}")))?;
    let format = read_str_attr(&file, "format").unwrap_or_default();
    if format != "atomvae-model" && format != ANALYSIS_FORMAT {
        return Err(bad("an HDF5 file, but not an atomvae model or analysis file".into()));
    }
    let version = file.attr("schema_version").and_then(|a| a.read_scalar::<u32>()).unwrap_or(0);
    if version > ANALYSIS_SCHEMA_VERSION {
        return Err(bad(format!("written by a newer atomvae (schema version {version})")));
    }
    let models = file.group("models").map_err(|_| bad("it holds no models".into()))?;
    let names = models.member_names().map_err(|e| hdf5_err(path, e))?;
    let chosen = match name {
        Some(n) => n.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => return Err(bad(format!("it holds several models ({}); name one", names.join(", ")))),
    };
    StoredModel::read(&models, &chosen, expected_kind, path)
}
