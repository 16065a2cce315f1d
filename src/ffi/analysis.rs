//! The ABI's analysis-file handle and the whole pipeline on a movie.

use std::ffi::c_void;
use std::sync::Mutex;

use safer_ffi::prelude::*;

use super::handles::{
    give, input, locked, output, path_of, shape_len, with_segmenter, AtomvaeProgressFn, AtomvaeSegmenter,
    CallbackProgress,
};
use super::{guarded, AtomvaeDevice, AtomvaeStatus, FfiError};
use crate::store::AnalysisFile;

/// An analysis file, opened for reading (opaque).
#[derive_ReprC]
#[repr(opaque)]
pub struct AtomvaeAnalysis {
    file: Mutex<AnalysisFile>,
}

impl AtomvaeAnalysis {
    pub(super) fn file(&self) -> &Mutex<AnalysisFile> {
        &self.file
    }
}

/// One row of an analysis file's atom table.
#[derive_ReprC]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomvaeAtomRow {
    /// Frame index (0-based) in the movie.
    pub frame: u32,
    /// Row (px of the stored frames), (0, 0) = centre of the top-left pixel.
    pub y: f32,
    /// Column (px).
    pub x: f32,
    /// Class index into the file's `class_names` (0 = background).
    pub class_id: u8,
    /// Mean probability of that class over the atom (0–1).
    pub confidence: f32,
}

impl From<crate::pipeline::PipelineError> for FfiError {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        use crate::pipeline::PipelineError as E;
        match e {
            E::Store(s) => s.into(),
            E::Segment(s) => s.into(),
            E::Rvae(r) => r.into(),
            E::Analysis(crate::analysis::AnalysisError::Cancelled) => {
                FfiError::new(AtomvaeStatus::Cancelled, "cancelled")
            }
            other => FfiError::invalid(other.to_string()),
        }
    }
}

/// Takes the movie at `movie_path` (.npy, .tif/.tiff or an .h5 analysis/movie
/// file) through every step — import, segmentation with `segmenter` (NULL: the
/// embedded model), atoms, 4 Å windows, an rVAE trained for `rvae_epochs`
/// epochs, encoding and the latent analysis — into the analysis file
/// `out_path` (replaced atomically at each step). `pixel_size` ≤ 0 takes the
/// pixel size from the movie's metadata. `progress` sees each step as a phase;
/// returning false cancels (`ATOMVAE_STATUS_CANCELLED`; the file keeps the last
/// completed step).
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_analyze_movie(
    movie_path: Option<char_p::Ref<'_>>,
    out_path: Option<char_p::Ref<'_>>,
    pixel_size: f64,
    segmenter: Option<&AtomvaeSegmenter>,
    rvae_epochs: u32,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> AtomvaeStatus {
    guarded(|| {
        if rvae_epochs == 0 {
            return Err(FfiError::invalid("0 rVAE epochs"));
        }
        let mut settings = crate::pipeline::AnalyzeSettings::default();
        settings.training.epochs = rvae_epochs as usize;
        analyze(movie_path, out_path, pixel_size, &settings, segmenter, device, progress, user_data)
    })
}

/// The body of both `atomvae_analyze_movie` calls.
#[allow(clippy::too_many_arguments)]
pub(super) fn analyze(
    movie_path: Option<char_p::Ref<'_>>,
    out_path: Option<char_p::Ref<'_>>,
    pixel_size: f64,
    settings: &crate::pipeline::AnalyzeSettings,
    segmenter: Option<&AtomvaeSegmenter>,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> Result<(), FfiError> {
    let (movie, out) = (path_of(movie_path)?, path_of(out_path)?);
    if pixel_size.is_nan() {
        return Err(FfiError::invalid("pixel size is NaN"));
    }
    let device = device.resolve()?;
    let mut reporter = CallbackProgress::new(progress, user_data);
    let pixel = (pixel_size > 0.0).then_some(pixel_size);
    with_segmenter(segmenter, device, |model| {
        crate::pipeline::analyze_movie(&movie, None, &out, pixel, model, settings, device, &mut reporter)?;
        Ok(())
    })
}

/// Opens an analysis file (validated) for reading; free with `atomvae_analysis_free`.
#[ffi_export]
pub fn atomvae_analysis_open(
    path: Option<char_p::Ref<'_>>,
    out: Option<&mut Option<repr_c::Box<AtomvaeAnalysis>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let file = AnalysisFile::open(&path_of(path)?)?;
        give(out, AtomvaeAnalysis { file: Mutex::new(file) })
    })
}

/// A new analysis file at `path` (replaced atomically) from `count` frames of
/// height × width px (f32, row-major) at `pixel_size` Å/px held in memory, opened
/// for the steps of `atomvae_analysis_run`; free with `atomvae_analysis_free`.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_analysis_create(
    frames: *const f32,
    count: usize,
    height: usize,
    width: usize,
    pixel_size: f64,
    path: Option<char_p::Ref<'_>>,
    out: Option<&mut Option<repr_c::Box<AtomvaeAnalysis>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let path = path_of(path)?;
        let n = shape_len(&[count, height, width], "frames")?;
        let values = input(frames, n, "frames")?;
        if !(crate::segment::MIN_PIXEL_SIZE..=crate::segment::MAX_PIXEL_SIZE).contains(&pixel_size) {
            return Err(FfiError::invalid(format!("pixel size {pixel_size} Å/px is out of range")));
        }
        let stack = ndarray::Array3::from_shape_vec((count, height, width), values.to_vec()).expect("checked length");
        let file = crate::pipeline::import_frames(stack, pixel_size, &path, 0, &mut crate::progress::Silent)?;
        give(out, AtomvaeAnalysis { file: Mutex::new(file) })
    })
}

/// Copies the analysis file with its part files (its folder `<name>.parts`) to
/// `path` (replaced atomically) and opens the copy into `*out`; free it with
/// `atomvae_analysis_free`. A plain file copy of an analysis file lacks the parts.
#[ffi_export]
pub fn atomvae_analysis_copy(
    analysis: Option<&AtomvaeAnalysis>,
    path: Option<char_p::Ref<'_>>,
    out: Option<&mut Option<repr_c::Box<AtomvaeAnalysis>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let path = path_of(path)?;
        let copy = locked(&analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?.file).copy_to(&path)?;
        give(out, AtomvaeAnalysis { file: Mutex::new(copy) })
    })
}

/// Moves the analysis file at `from` with its part files to `to`, replacing `to`
/// atomically (the old `to` stays whole until the new one is in place). Close
/// every handle on `from` first.
#[ffi_export]
pub fn atomvae_analysis_rename(from: Option<char_p::Ref<'_>>, to: Option<char_p::Ref<'_>>) -> AtomvaeStatus {
    guarded(|| {
        let (from, to) = (path_of(from)?, path_of(to)?);
        AnalysisFile::open(&from)?;
        crate::store::rename_analysis(&from, &to)?;
        Ok(())
    })
}

/// Releases an analysis handle (NULL is ignored).
#[ffi_export]
pub fn atomvae_analysis_free(analysis: Option<repr_c::Box<AtomvaeAnalysis>>) {
    drop(analysis);
}

/// The movie's shape (frames, height, width) and pixel size (Å/px).
#[ffi_export]
pub fn atomvae_analysis_shape(
    analysis: Option<&AtomvaeAnalysis>,
    frames: Option<&mut usize>,
    height: Option<&mut usize>,
    width: Option<&mut usize>,
    pixel_size: Option<&mut f64>,
) -> AtomvaeStatus {
    guarded(|| {
        let file = locked(&analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?.file);
        let info = file.info();
        for (slot, value) in [(frames, info.frames[0]), (height, info.frames[1]), (width, info.frames[2])] {
            *slot.ok_or_else(|| FfiError::invalid("an output pointer is NULL"))? = value;
        }
        *pixel_size.ok_or_else(|| FfiError::invalid("pixel_size is NULL"))? = info.pixel_size;
        Ok(())
    })
}

/// The atom table: up to `capacity` rows into `atoms`, their number into
/// `*count` (0 when the file has no atoms yet; too small a buffer →
/// `ATOMVAE_STATUS_BUFFER_TOO_SMALL` with only `*count` set).
#[ffi_export]
pub unsafe fn atomvae_analysis_atoms(
    analysis: Option<&AtomvaeAnalysis>,
    atoms: *mut AtomvaeAtomRow,
    capacity: usize,
    count: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let count = count.ok_or_else(|| FfiError::invalid("count is NULL"))?;
        let file = locked(&analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?.file);
        let table = file.read_atoms()?.unwrap_or_default();
        *count = table.len();
        let out = output(atoms, capacity, table.len(), "atoms")?;
        for (i, row) in out.iter_mut().enumerate() {
            *row = AtomvaeAtomRow {
                frame: table.frame[i],
                y: table.y[i],
                x: table.x[i],
                class_id: table.class[i],
                confidence: table.confidence[i],
            };
        }
        Ok(())
    })
}

/// The shape (frames, height, width) of the movie at `movie_path` (.npy, .tif/.tiff,
/// or .h5 with `dataset`, NULL: "frames") and the pixel size its own metadata
/// states (Å/px), or 0 when it states none. Nothing is read but the headers.
#[ffi_export]
pub fn atomvae_movie_info(
    movie_path: Option<char_p::Ref<'_>>,
    dataset: Option<char_p::Ref<'_>>,
    frames: Option<&mut usize>,
    height: Option<&mut usize>,
    width: Option<&mut usize>,
    pixel_size: Option<&mut f64>,
) -> AtomvaeStatus {
    guarded(|| {
        let path = path_of(movie_path)?;
        let stack = crate::store::FrameStack::open(&path, dataset.map(|d| d.to_str()))?;
        let [n, h, w] = stack.shape();
        for (slot, value) in [(frames, n), (height, h), (width, w)] {
            *slot.ok_or_else(|| FfiError::invalid("an output pointer is NULL"))? = value;
        }
        *pixel_size.ok_or_else(|| FfiError::invalid("pixel_size is NULL"))? = stack.pixel_size().unwrap_or(0.0);
        Ok(())
    })
}

/// A new analysis file at `out_path` from the movie at `movie_path` (the `import`
/// step: .npy, .tif/.tiff, or .h5 with `dataset`), opened for the steps of
/// `atomvae_analysis_run`. `pixel_size` ≤ 0 takes the movie's own (refused when it
/// states none: atomvae never guesses). `progress` sees each frame; false cancels
/// (nothing is written).
#[ffi_export]
pub unsafe fn atomvae_analysis_import(
    movie_path: Option<char_p::Ref<'_>>,
    dataset: Option<char_p::Ref<'_>>,
    out_path: Option<char_p::Ref<'_>>,
    pixel_size: f64,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
    out: Option<&mut Option<repr_c::Box<AtomvaeAnalysis>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let (movie, target) = (path_of(movie_path)?, path_of(out_path)?);
        if pixel_size.is_nan() {
            return Err(FfiError::invalid("pixel size is NaN"));
        }
        let pixel = (pixel_size > 0.0).then_some(pixel_size);
        let mut reporter = CallbackProgress::new(progress, user_data);
        let file =
            crate::pipeline::import_movie(&movie, dataset.map(|d| d.to_str()), &target, pixel, 0, &mut reporter)?;
        give(out, AtomvaeAnalysis { file: Mutex::new(file) })
    })
}
