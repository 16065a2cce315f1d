//! Writers for frame stacks (simulated movies): HDF5 with ground truth and
//! provenance, `.npy` (one (frames, H, W) f32 array) or multi-page 32-bit float
//! TIFF. Frames are streamed to disk one at a time; the file appears under its
//! real name only once it is complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::{s, ArrayView2};
use serde::Serialize;

use super::analysis::{now_utc, write_step, StepRecord, ANALYSIS_FORMAT, ANALYSIS_SCHEMA_VERSION};
use super::{write_str_attr, AtomicFile, StoreError};
use crate::sim::TruthAtom;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovieFormat {
    Hdf5,
    Npy,
    Tiff,
}

impl MovieFormat {
    /// The format implied by the file extension.
    pub fn from_path(path: &Path) -> Result<Self, StoreError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "h5" | "hdf5" => Ok(Self::Hdf5),
            "npy" => Ok(Self::Npy),
            "tif" | "tiff" => Ok(Self::Tiff),
            _ => Err(StoreError::BadPath {
                path: path.to_path_buf(),
                reason: "unknown file type; use .h5, .npy or .tif".into(),
            }),
        }
    }
}

/// What is known about a movie besides its pixels.
#[derive(Debug, Clone, Serialize)]
pub struct MovieMeta {
    /// Å per pixel.
    pub pixel_size: f64,
    pub class_names: Vec<String>,
    /// The full parameters that made the movie, as JSON.
    pub parameters: serde_json::Value,
    pub seed: u64,
    pub software: String,
    /// When the work began (RFC 3339, UTC).
    pub started: String,
}

enum Sink {
    Hdf5 { file: hdf5::File, frames: hdf5::Dataset, labels: hdf5::Dataset },
    Npy(BufWriter<File>),
    // Unbuffered, so that every write error surfaces (the encoder cannot hand back a buffer).
    Tiff(tiff::encoder::TiffEncoder<File>),
}

/// Streams frames into a new file; `finish` commits it, dropping it discards it.
pub struct MovieWriter {
    sink: Sink,
    atomic: AtomicFile,
    sidecars: Vec<AtomicFile>,
    shape: [usize; 3],
    written: usize,
    meta: MovieMeta,
    truth: Vec<TruthAtom>,
}

fn npy_header(shape: [usize; 3]) -> Vec<u8> {
    let dict =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}, {}), }}", shape[0], shape[1], shape[2]);
    // Magic (6) + version (2) + header length (2) + dict, padded to a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&((dict.len() + pad + 1) as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

fn sidecar_path(path: &Path, suffix: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}"))
}

impl MovieWriter {
    /// Opens `path` (format from its extension) for a stack of `shape` = (frames, H, W).
    pub fn create(path: &Path, shape: [usize; 3], meta: MovieMeta) -> Result<Self, StoreError> {
        let format = MovieFormat::from_path(path)?;
        let atomic = AtomicFile::new(path)?;
        let temp = atomic.temp_path().to_path_buf();
        let sidecars = match format {
            MovieFormat::Hdf5 => Vec::new(),
            _ => vec![
                AtomicFile::new(&sidecar_path(path, ".atoms.csv"))?,
                AtomicFile::new(&sidecar_path(path, ".meta.json"))?,
            ],
        };
        let io = |e| StoreError::io(path, e);
        let h5 = |e| StoreError::hdf5(path, e);
        let sink = match format {
            MovieFormat::Hdf5 => {
                let file = hdf5::File::create(&temp).map_err(h5)?;
                let [n, h, w] = shape;
                let frames = file
                    .new_dataset::<f32>()
                    .shape([n, h, w])
                    .chunk([1, h, w])
                    .deflate(4)
                    .create("frames")
                    .map_err(h5)?;
                let truth = file.create_group("truth").map_err(h5)?;
                let labels = truth
                    .new_dataset::<u8>()
                    .shape([n, h, w])
                    .chunk([1, h, w])
                    .deflate(4)
                    .create("labels")
                    .map_err(h5)?;
                Sink::Hdf5 { file, frames, labels }
            }
            MovieFormat::Npy => {
                let mut out = BufWriter::new(File::create(&temp).map_err(io)?);
                out.write_all(&npy_header(shape)).map_err(io)?;
                Sink::Npy(out)
            }
            MovieFormat::Tiff => {
                let out = File::create(&temp).map_err(io)?;
                Sink::Tiff(
                    tiff::encoder::TiffEncoder::new(out)
                        .map_err(|e| StoreError::Tiff { path: path.into(), source: e })?,
                )
            }
        };
        Ok(Self { sink, atomic, sidecars, shape, written: 0, meta, truth: Vec::new() })
    }

    pub fn frames_written(&self) -> usize {
        self.written
    }

    /// Appends the next frame, its label mask (HDF5 only) and its true atoms.
    pub fn write_frame(
        &mut self,
        image: ArrayView2<f32>,
        labels: Option<ArrayView2<u8>>,
        atoms: &[TruthAtom],
    ) -> Result<(), StoreError> {
        let path = self.atomic.target().to_path_buf();
        let [n, h, w] = self.shape;
        if self.written >= n {
            return Err(StoreError::Invalid { path, reason: format!("more than the announced {n} frames") });
        }
        if image.dim() != (h, w) {
            return Err(StoreError::Invalid {
                path,
                reason: format!("frame of {:?} px in a {h}×{w} stack", image.dim()),
            });
        }
        let k = self.written;
        match &mut self.sink {
            Sink::Hdf5 { frames, labels: label_ds, .. } => {
                frames
                    .write_slice(&image.as_standard_layout(), s![k, .., ..])
                    .map_err(|e| StoreError::hdf5(&path, e))?;
                if let Some(l) = labels {
                    label_ds
                        .write_slice(&l.as_standard_layout(), s![k, .., ..])
                        .map_err(|e| StoreError::hdf5(&path, e))?;
                }
            }
            Sink::Npy(out) => {
                let mut bytes = Vec::with_capacity(h * w * 4);
                for v in image.iter() {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                out.write_all(&bytes).map_err(|e| StoreError::io(&path, e))?;
            }
            Sink::Tiff(enc) => {
                let tiff_err = |e| StoreError::Tiff { path: path.clone(), source: e };
                let mut page =
                    enc.new_image::<tiff::encoder::colortype::Gray32Float>(w as u32, h as u32).map_err(tiff_err)?;
                if k == 0 {
                    let description = serde_json::to_string(&self.meta).unwrap_or_default();
                    page.encoder()
                        .write_tag(tiff::tags::Tag::ImageDescription, description.as_str())
                        .map_err(tiff_err)?;
                }
                let data: Vec<f32> = image.iter().copied().collect();
                page.write_data(&data).map_err(tiff_err)?;
            }
        }
        self.truth.extend_from_slice(atoms);
        self.written += 1;
        Ok(())
    }

    /// Writes the truth table and metadata, then moves every file into place.
    pub fn finish(self) -> Result<(), StoreError> {
        let path = self.atomic.target().to_path_buf();
        if self.written != self.shape[0] {
            return Err(StoreError::Invalid {
                path,
                reason: format!("only {} of {} frames were written", self.written, self.shape[0]),
            });
        }
        match self.sink {
            Sink::Hdf5 { file, .. } => {
                write_hdf5_extras(&file, &self.meta, &self.truth).map_err(|e| StoreError::hdf5(&path, e))?;
                file.flush().map_err(|e| StoreError::hdf5(&path, e))?;
                file.close().map_err(|e| StoreError::hdf5(&path, e))?;
            }
            Sink::Npy(mut out) => out.flush().map_err(|e| StoreError::io(&path, e))?,
            Sink::Tiff(enc) => drop(enc),
        }
        if let [csv, json] = &self.sidecars[..] {
            let mut out = BufWriter::new(File::create(csv.temp_path()).map_err(|e| StoreError::io(csv.target(), e))?);
            let mut text = String::from("frame,y,x,class,z,grain,sublattice\n");
            for a in &self.truth {
                text.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    a.frame, a.y, a.x, a.class, a.z, a.grain, a.sublattice
                ));
            }
            out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| StoreError::io(csv.target(), e))?;
            let meta = serde_json::to_vec_pretty(&self.meta).expect("metadata serialises");
            std::fs::write(json.temp_path(), meta).map_err(|e| StoreError::io(json.target(), e))?;
        }
        for side in self.sidecars {
            side.commit()?;
        }
        self.atomic.commit()
    }
}

/// The ground-truth atoms of a simulated `.h5` movie (`/truth/atoms`) copied into
/// an analysis file made from it, so the order parameters can be scored there;
/// `false` (nothing copied) for a movie without them.
pub fn copy_truth_atoms(movie: &Path, out: &hdf5::File) -> Result<bool, StoreError> {
    let is_h5 = movie.extension().is_some_and(|e| e == "h5" || e == "hdf5");
    if !is_h5 {
        return Ok(false);
    }
    let source = hdf5::File::open(movie).map_err(|e| StoreError::hdf5(movie, e))?;
    if !source.link_exists("truth/atoms") {
        return Ok(false);
    }
    let copy = || -> hdf5::Result<()> {
        let truth = if out.link_exists("truth") { out.group("truth")? } else { out.create_group("truth")? };
        super::parts::copy_object(&source.group("truth")?, &truth, "atoms")
    };
    copy().map_err(|e| StoreError::hdf5(movie, e))?;
    Ok(true)
}

/// An HDF5 movie is a valid analysis file (frames, pixel size, classes, provenance)
/// with the ground truth in `/truth`, so every pipeline step runs on it directly.
fn write_hdf5_extras(file: &hdf5::File, meta: &MovieMeta, truth: &[TruthAtom]) -> hdf5::Result<()> {
    file.new_attr::<u32>().create("schema_version")?.write_scalar(&ANALYSIS_SCHEMA_VERSION)?;
    write_str_attr(file, "format", ANALYSIS_FORMAT)?;
    file.new_attr::<f64>().create("pixel_size_angstrom")?.write_scalar(&meta.pixel_size)?;
    write_str_attr(file, "class_names", &serde_json::to_string(&meta.class_names).expect("names"))?;
    let frames = file.dataset("frames")?;
    write_str_attr(&frames, "axes", "frame,y,x")?;
    let atoms = file.group("truth")?.create_group("atoms")?;
    macro_rules! column {
        ($name:literal, $ty:ty, $field:ident) => {
            let col: Vec<$ty> = truth.iter().map(|a| a.$field).collect();
            atoms.new_dataset_builder().with_data(&col).create($name)?;
        };
    }
    column!("frame", u32, frame);
    column!("y", f32, y);
    column!("x", f32, x);
    column!("class", u8, class);
    column!("z", u8, z);
    column!("grain", u8, grain);
    column!("sublattice", u8, sublattice);
    let prov = file.create_group("provenance")?;
    write_str_attr(&prov, "software", &meta.software)?;
    write_str_attr(&prov, "git_commit", crate::GIT_COMMIT)?;
    write_str_attr(&prov, "created", &now_utc())?;
    write_str_attr(&prov, "parameters", &meta.parameters.to_string())?;
    prov.new_attr::<u64>().create("seed")?.write_scalar(&meta.seed)?;
    let record = StepRecord {
        step: "simulate".into(),
        parameters: meta.parameters.clone(),
        started: meta.started.clone(),
        finished: now_utc(),
        device: "cpu".into(),
        seed: meta.seed,
    };
    write_step(&prov, &record)
}
