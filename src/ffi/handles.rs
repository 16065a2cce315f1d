//! The ABI's handles and the calls on them: segmentation, atom finding and the
//! rVAE. Each checks pointers, lengths and shapes, then calls the Rust API.

use std::ffi::c_void;
use std::sync::Mutex;

use ndarray::{ArrayView2, ArrayView3};
use safer_ffi::prelude::*;

use super::{guarded, AtomvaeDevice, AtomvaeStatus, FfiError};
use crate::progress::Progress;
use crate::rvae::{Rvae, RvaeConfig, RvaeTrainConfig};
use crate::segment::{AtomFinderConfig, FoundAtom, Segmenter};

/// A segmentation model (opaque).
#[derive_ReprC]
#[repr(opaque)]
pub struct AtomvaeSegmenter {
    model: Mutex<Segmenter>,
}

impl AtomvaeSegmenter {
    pub(super) fn model(&self) -> &Mutex<Segmenter> {
        &self.model
    }
}

/// An rVAE model (opaque).
#[derive_ReprC]
#[repr(opaque)]
pub struct AtomvaeRvae {
    model: Mutex<Rvae>,
    /// How it was trained, when trained in this process (JSON of the report).
    report: Option<serde_json::Value>,
}

impl AtomvaeRvae {
    pub(super) fn new(model: Rvae, report: Option<serde_json::Value>) -> Self {
        Self { model: Mutex::new(model), report }
    }

    pub(super) fn model(&self) -> &Mutex<Rvae> {
        &self.model
    }

    pub(super) fn report(&self) -> Option<&serde_json::Value> {
        self.report.as_ref()
    }
}

/// One atom found in a probability map.
#[derive_ReprC]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AtomvaeAtom {
    /// Row (px), (0, 0) = centre of the top-left pixel.
    pub y: f32,
    /// Column (px).
    pub x: f32,
    /// Class index (1 = C, 2 = Si for the embedded model).
    pub class_id: u8,
    /// Mean probability of that class over the atom (0–1).
    pub confidence: f32,
}

/// Settings of `atomvae_rvae_train`; start from `atomvae_rvae_default_settings()`.
#[derive_ReprC]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AtomvaeRvaeSettings {
    /// Passes over the training windows.
    pub epochs: u32,
    /// Windows per optimiser step.
    pub batch: u32,
    /// Adam's learning rate (0 < lr ≤ 10).
    pub learning_rate: f64,
    /// Fraction of windows held out for the held-out −ELBO (0 ≤ f < 1).
    pub holdout_fraction: f64,
    /// Content latents (≥ 1).
    pub latent_dim: u32,
    /// Whether (dx, dy) are latents.
    pub translation: bool,
    /// Encode and reconstruct only the disc inscribed in each window.
    pub disc: bool,
    /// Epochs at the start during which the content KL weighs `kl_warmup_weight`.
    pub kl_warmup_epochs: u32,
    /// Weight of the content KL during the warm-up (1 = no warm-up).
    pub kl_warmup_weight: f64,
    /// Seed of the weights, the split and the shuffling: equal seeds, equal models.
    pub seed: u64,
}

/// Called during long work with the fraction done (0–1), the phase and the
/// caller's `user_data`; return false to cancel.
pub type AtomvaeProgressFn = Option<unsafe extern "C" fn(f64, char_p::Raw, *mut c_void) -> bool>;

/// Progress reports through a C callback; a `false` return cancels.
pub(super) struct CallbackProgress {
    callback: AtomvaeProgressFn,
    user_data: *mut c_void,
    phase: std::ffi::CString,
    total: u64,
    done: u64,
    stop: bool,
}

impl CallbackProgress {
    pub(super) fn new(callback: AtomvaeProgressFn, user_data: *mut c_void) -> Self {
        Self { callback, user_data, phase: Default::default(), total: 0, done: 0, stop: false }
    }

    fn report(&mut self) {
        if let Some(f) = self.callback {
            let fraction = if self.total == 0 { 0.0 } else { self.done as f64 / self.total as f64 };
            // SAFETY: the caller passed this function and its user data together.
            let phase = char_p::Raw::from(char_p::Ref::from(self.phase.as_c_str()));
            let go_on = unsafe { f(fraction.min(1.0), phase, self.user_data) };
            self.stop |= !go_on;
        }
    }
}

impl Progress for CallbackProgress {
    fn start(&mut self, phase: &str, total: u64) {
        self.phase = std::ffi::CString::new(phase.replace('\0', " ")).unwrap_or_default();
        (self.total, self.done) = (total, 0);
        self.report();
    }
    fn advance(&mut self, n: u64) {
        self.done += n;
        self.report();
    }
    fn cancelled(&self) -> bool {
        self.stop
    }
}

/// A slice from a C pointer and element count, refusing NULL (unless empty) and
/// sizes that overflow.
pub(super) fn input<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{what} is NULL")));
    }
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(FfiError::invalid(format!("{what}: {len} elements is too many")));
    }
    // SAFETY: non-null, and the caller promises `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Checks an output buffer holds `needed` elements and returns it.
pub(super) fn output<'a, T>(ptr: *mut T, capacity: usize, needed: usize, what: &str) -> Result<&'a mut [T], FfiError> {
    if capacity < needed {
        return Err(FfiError::new(
            AtomvaeStatus::BufferTooSmall,
            format!("{what} holds {capacity} values; {needed} are needed"),
        ));
    }
    if needed == 0 {
        // Nothing to write (e.g. a frame without atoms): a NULL buffer is fine.
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller promises `capacity` ≥ `needed` writable elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, needed) })
}

/// Refuses two caller buffers that share memory (e.g. the same buffer for
/// `mean` and `logvar`, or an output over an input): the result would depend on
/// the order of writes.
pub(super) fn disjoint<A, B>(a: (*const A, usize), b: (*const B, usize), what: &str) -> Result<(), FfiError> {
    let start_a = a.0 as usize;
    let end_a = start_a.saturating_add(a.1.saturating_mul(std::mem::size_of::<A>()));
    let start_b = b.0 as usize;
    let end_b = start_b.saturating_add(b.1.saturating_mul(std::mem::size_of::<B>()));
    if a.1 > 0 && b.1 > 0 && start_a < end_b && start_b < end_a {
        return Err(FfiError::invalid(format!("{what} overlap: use separate buffers")));
    }
    Ok(())
}

pub(super) fn shape_len(dims: &[usize], what: &str) -> Result<usize, FfiError> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n > 0)
        .ok_or_else(|| FfiError::invalid(format!("{what} has an empty or overflowing shape {dims:?}")))
}

pub(super) fn path_of(path: Option<char_p::Ref<'_>>) -> Result<std::path::PathBuf, FfiError> {
    let path = path.ok_or_else(|| FfiError::invalid("path is NULL"))?;
    let s = path.to_str();
    if s.is_empty() {
        return Err(FfiError::invalid("path is empty"));
    }
    Ok(std::path::PathBuf::from(s))
}

pub(super) fn give<T>(out: Option<&mut Option<repr_c::Box<T>>>, value: T) -> Result<(), FfiError> {
    let out = out.ok_or_else(|| FfiError::invalid("the output handle pointer is NULL"))?;
    *out = Some(Box::new(value).into());
    Ok(())
}

/// Runs `body` with the handle's model, or with the embedded one when `segmenter` is NULL.
pub(super) fn with_segmenter<T>(
    segmenter: Option<&AtomvaeSegmenter>,
    device: tch::Device,
    body: impl FnOnce(&Segmenter) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    match segmenter {
        Some(s) => body(&locked(&s.model)),
        None => body(&Segmenter::embedded(device)?),
    }
}

pub(super) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic inside a call poisons nothing the next call relies on: the model
    // is only read, or replaced whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A segmentation model: the embedded default (`model_path` NULL) or one loaded
/// from a model file (`.h5` from `atomvae train-segmenter`, or compact bytes).
/// On success `*out` holds a handle to free with `atomvae_segmenter_free`.
#[ffi_export]
pub fn atomvae_segmenter_new(
    model_path: Option<char_p::Ref<'_>>,
    device: AtomvaeDevice,
    out: Option<&mut Option<repr_c::Box<AtomvaeSegmenter>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let device = device.resolve()?;
        let path = model_path.map(|p| path_of(Some(p))).transpose()?;
        let model = crate::pipeline::load_segmenter(path.as_deref(), device)?;
        give(out, AtomvaeSegmenter { model: Mutex::new(model) })
    })
}

/// Releases a segmentation model (NULL is ignored).
#[ffi_export]
pub fn atomvae_segmenter_free(segmenter: Option<repr_c::Box<AtomvaeSegmenter>>) {
    drop(segmenter);
}

/// Classes the model predicts (background first), or 0 for NULL.
#[ffi_export]
pub fn atomvae_segmenter_classes(segmenter: Option<&AtomvaeSegmenter>) -> usize {
    segmenter.map_or(0, |s| locked(&s.model).config().class_names.len())
}

/// Class probabilities of one frame (height × width, `pixel_size` Å/px) into
/// `probabilities`: classes × height × width values (see
/// `atomvae_segmenter_classes`), each pixel's summing to 1.
#[ffi_export]
pub unsafe fn atomvae_segment_frame(
    segmenter: Option<&AtomvaeSegmenter>,
    frame: *const f32,
    height: usize,
    width: usize,
    pixel_size: f64,
    probabilities: *mut f32,
    capacity: usize,
) -> AtomvaeStatus {
    guarded(|| {
        let segmenter = segmenter.ok_or_else(|| FfiError::invalid("segmenter is NULL"))?;
        let n = shape_len(&[height, width], "frame")?;
        let pixels = input(frame, n, "frame")?;
        let model = locked(&segmenter.model);
        let classes = model.config().class_names.len();
        disjoint((frame, n), (probabilities.cast_const(), classes * n), "frame and probabilities")?;
        let out = output(probabilities, capacity, classes * n, "probabilities")?;
        let view = ArrayView2::from_shape((height, width), pixels).expect("checked length");
        let p = model.predict(view, pixel_size)?;
        out.copy_from_slice(p.as_slice().expect("a fresh array is contiguous"));
        Ok(())
    })
}

/// Class probabilities of a stack of `count` frames (count × height × width) into
/// `probabilities` (count × classes × height × width), frame by frame with
/// progress; returning false from `progress` cancels (`ATOMVAE_STATUS_CANCELLED`,
/// nothing written).
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_segment_stack(
    segmenter: Option<&AtomvaeSegmenter>,
    frames: *const f32,
    count: usize,
    height: usize,
    width: usize,
    pixel_size: f64,
    probabilities: *mut f32,
    capacity: usize,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> AtomvaeStatus {
    guarded(|| {
        let segmenter = segmenter.ok_or_else(|| FfiError::invalid("segmenter is NULL"))?;
        let plane = shape_len(&[height, width], "frame")?;
        let pixels = input(frames, shape_len(&[count, height, width], "frames")?, "frames")?;
        let model = locked(&segmenter.model);
        let classes = model.config().class_names.len();
        disjoint(
            (frames, count * plane),
            (probabilities.cast_const(), count * classes * plane),
            "frames and probabilities",
        )?;
        let out = output(probabilities, capacity, count * classes * plane, "probabilities")?;
        let mut reporter = CallbackProgress::new(progress, user_data);
        reporter.start("segment", count as u64);
        // Results go to a scratch buffer first: a cancelled call writes nothing.
        let mut all = Vec::with_capacity(count * classes * plane);
        for frame in pixels.chunks(plane) {
            if reporter.cancelled() {
                return Err(FfiError::new(AtomvaeStatus::Cancelled, "cancelled"));
            }
            let view = ArrayView2::from_shape((height, width), frame).expect("checked length");
            all.extend_from_slice(model.predict(view, pixel_size)?.as_slice().expect("contiguous"));
            reporter.advance(1);
        }
        if reporter.cancelled() {
            return Err(FfiError::new(AtomvaeStatus::Cancelled, "cancelled"));
        }
        out.copy_from_slice(&all);
        Ok(())
    })
}

/// Atoms in class probabilities (classes × height × width, background first):
/// blobs where 1 − p(background) > `threshold`, centroids, class by mass, atoms
/// closer than `border_px` to the edge dropped. Writes up to `capacity` atoms and
/// their number to `*count`; with too small a buffer (e.g. capacity 0) only
/// `*count` is set and the status is `BufferTooSmall`.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_find_atoms(
    probabilities: *const f32,
    classes: usize,
    height: usize,
    width: usize,
    pixel_size: f64,
    threshold: f64,
    border_px: f64,
    atoms: *mut AtomvaeAtom,
    capacity: usize,
    count: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let count = count.ok_or_else(|| FfiError::invalid("count is NULL"))?;
        if classes < 2 {
            return Err(FfiError::invalid(format!("{classes} classes: at least background and one atom class")));
        }
        let config = AtomFinderConfig { threshold: threshold as f32, border: border_px, ..AtomFinderConfig::default() };
        config.check(pixel_size).map_err(FfiError::invalid)?;
        let n = shape_len(&[classes, height, width], "probabilities")?;
        let values = input(probabilities, n, "probabilities")?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FfiError::invalid("probabilities contain NaN or infinite values"));
        }
        let view = ArrayView3::from_shape((classes, height, width), values).expect("checked length");
        let found = crate::segment::find_atoms(view, pixel_size, &config);
        *count = found.len();
        disjoint((probabilities, n), (atoms.cast_const(), found.len().min(capacity)), "probabilities and atoms")?;
        let out = output(atoms, capacity, found.len(), "atoms")?;
        for (slot, a) in out.iter_mut().zip(&found) {
            *slot = AtomvaeAtom { y: a.y as f32, x: a.x as f32, class_id: a.class, confidence: a.confidence };
        }
        Ok(())
    })
}

/// The Si check of atom finding (`atomvae atoms --si-min-ratio`): every atom of
/// `atoms` (found on `frame`, height × width f32, at `pixel_size` Å/px) whose class
/// is Si but whose intensity is below `min_ratio` × the median of the atoms within
/// 5 Å becomes C, in place; `*changed` (may be NULL) says how many. `min_ratio` 2 is
/// the library's default; 0 changes nothing. Call it after `atomvae_find_atoms` when
/// the frame is at hand, so that the atoms match those of the `atoms` step.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_check_silicon(
    frame: *const f32,
    height: usize,
    width: usize,
    pixel_size: f64,
    min_ratio: f64,
    atoms: *mut AtomvaeAtom,
    count: usize,
    changed: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let config = AtomFinderConfig { si_min_ratio: min_ratio, ..AtomFinderConfig::default() };
        config.check(pixel_size).map_err(FfiError::invalid)?;
        let n = shape_len(&[height, width], "frame")?;
        let values = input(frame, n, "frame")?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FfiError::invalid("the frame contains NaN or infinite values"));
        }
        disjoint((frame, n), (atoms.cast_const(), count), "frame and atoms")?;
        let rows = output(atoms, count, count, "atoms")?;
        let mut found: Vec<FoundAtom> = rows
            .iter()
            .map(|a| FoundAtom { y: a.y as f64, x: a.x as f64, class: a.class_id, confidence: a.confidence })
            .collect();
        let view = ArrayView2::from_shape((height, width), values).expect("checked length");
        let n_changed = crate::segment::check_silicon(view, pixel_size, &mut found, min_ratio);
        for (slot, a) in rows.iter_mut().zip(&found) {
            slot.class_id = a.class;
        }
        if let Some(out) = changed {
            *out = n_changed;
        }
        Ok(())
    })
}

/// The defaults of `atomvae rvae train` (the paper's settings).
#[ffi_export]
pub fn atomvae_rvae_default_settings() -> AtomvaeRvaeSettings {
    let (m, t) = (RvaeConfig::default(), RvaeTrainConfig::default());
    AtomvaeRvaeSettings {
        epochs: t.epochs as u32,
        batch: t.batch as u32,
        learning_rate: t.learning_rate,
        holdout_fraction: t.holdout_fraction,
        latent_dim: m.latent_dim as u32,
        translation: m.translation,
        disc: m.disc,
        kl_warmup_epochs: t.kl_warmup_epochs as u32,
        kl_warmup_weight: t.kl_warmup_weight,
        seed: t.seed,
    }
}

/// Trains an rVAE on `count` windows of window × window px (f32, row-major) and
/// returns it in `*out` (free with `atomvae_rvae_free`). `settings` NULL means
/// the defaults. `progress` may be NULL; returning false from it cancels
/// (`Cancelled`, `*out` untouched).
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_rvae_train(
    windows: *const f32,
    count: usize,
    window: usize,
    settings: Option<&AtomvaeRvaeSettings>,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
    out: Option<&mut Option<repr_c::Box<AtomvaeRvae>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let out = out.ok_or_else(|| FfiError::invalid("the output handle pointer is NULL"))?;
        let s = settings.copied().unwrap_or_else(|| atomvae_rvae_default_settings());
        let n = shape_len(&[count, window, window], "windows")?;
        let values = input(windows, n, "windows")?;
        let device = device.resolve()?;
        let config = RvaeConfig {
            window,
            latent_dim: s.latent_dim as usize,
            translation: s.translation,
            disc: s.disc,
            ..RvaeConfig::default()
        };
        let train = RvaeTrainConfig {
            epochs: s.epochs as usize,
            batch: s.batch as usize,
            learning_rate: s.learning_rate,
            holdout_fraction: s.holdout_fraction,
            kl_warmup_epochs: s.kl_warmup_epochs as usize,
            kl_warmup_weight: s.kl_warmup_weight,
            seed: s.seed,
            ..RvaeTrainConfig::default()
        };
        let mut model = Rvae::new_seeded(config, device, s.seed)?;
        let view = ArrayView3::from_shape((count, window, window), values).expect("checked length");
        let mut reporter = CallbackProgress::new(progress, user_data);
        let report = crate::rvae::train_rvae(&mut model, view, &train, &mut reporter)?;
        *out = Some(Box::new(AtomvaeRvae::new(model, serde_json::to_value(&report).ok())).into());
        Ok(())
    })
}

/// An rVAE from a model file written by `atomvae_rvae_save` (or an analysis file's
/// `/models/rvae`).
#[ffi_export]
pub fn atomvae_rvae_load(
    path: Option<char_p::Ref<'_>>,
    device: AtomvaeDevice,
    out: Option<&mut Option<repr_c::Box<AtomvaeRvae>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let path = path_of(path)?;
        let device = device.resolve()?;
        let stored = crate::store::load_model_file(&path, None, Some("rvae"))?;
        give(out, AtomvaeRvae::new(Rvae::from_stored(&stored, device)?, None))
    })
}

/// Writes the model to `path` (an HDF5 model file, replaced atomically).
#[ffi_export]
pub fn atomvae_rvae_save(rvae: Option<&AtomvaeRvae>, path: Option<char_p::Ref<'_>>) -> AtomvaeStatus {
    guarded(|| {
        let rvae = rvae.ok_or_else(|| FfiError::invalid("rvae is NULL"))?;
        let path = path_of(path)?;
        crate::store::save_model_file(&path, "rvae", &locked(&rvae.model).to_stored())?;
        Ok(())
    })
}

/// Releases an rVAE (NULL is ignored).
#[ffi_export]
pub fn atomvae_rvae_free(rvae: Option<repr_c::Box<AtomvaeRvae>>) {
    drop(rvae);
}

/// The window edge (px) the model takes, or 0 for NULL.
#[ffi_export]
pub fn atomvae_rvae_window(rvae: Option<&AtomvaeRvae>) -> usize {
    rvae.map_or(0, |r| locked(&r.model).config().window)
}

/// Latent columns per window: angle, dx, dy, then the content latents (0 for NULL).
#[ffi_export]
pub fn atomvae_rvae_latent_columns(rvae: Option<&AtomvaeRvae>) -> usize {
    rvae.map_or(0, |r| locked(&r.model).config().latent_names().len())
}

fn model_of(rvae: Option<&AtomvaeRvae>) -> Result<std::sync::MutexGuard<'_, Rvae>, FfiError> {
    Ok(locked(&rvae.ok_or_else(|| FfiError::invalid("rvae is NULL"))?.model))
}

/// Posterior means and log-variances of `count` windows into `mean` and
/// `logvar`, each count × `atomvae_rvae_latent_columns` values.
#[ffi_export]
pub unsafe fn atomvae_rvae_encode(
    rvae: Option<&AtomvaeRvae>,
    windows: *const f32,
    count: usize,
    window: usize,
    mean: *mut f32,
    logvar: *mut f32,
    capacity: usize,
) -> AtomvaeStatus {
    guarded(|| {
        let model = model_of(rvae)?;
        let n = shape_len(&[count, window, window], "windows")?;
        let values = input(windows, n, "windows")?;
        let cols = model.config().latent_names().len();
        disjoint((mean.cast_const(), count * cols), (logvar.cast_const(), count * cols), "mean and logvar")?;
        disjoint((mean.cast_const(), count * cols), (windows, n), "mean and windows")?;
        disjoint((logvar.cast_const(), count * cols), (windows, n), "logvar and windows")?;
        let mean = output(mean, capacity, count * cols, "mean")?;
        let logvar = output(logvar, capacity, count * cols, "logvar")?;
        let view = ArrayView3::from_shape((count, window, window), values).expect("checked length");
        let latents = model.encode(view)?;
        mean.copy_from_slice(latents.mean.as_slice().expect("contiguous"));
        logvar.copy_from_slice(latents.logvar.as_slice().expect("contiguous"));
        Ok(())
    })
}

/// Decodes `count` latent vectors of `columns` values (the content latents only,
/// or angle, dx, dy and the content latents) into count × window × window values;
/// with `with_pose` false the angle and shift are ignored.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_rvae_decode(
    rvae: Option<&AtomvaeRvae>,
    latents: *const f32,
    count: usize,
    columns: usize,
    with_pose: bool,
    windows: *mut f32,
    capacity: usize,
) -> AtomvaeStatus {
    guarded(|| {
        let model = model_of(rvae)?;
        let n = shape_len(&[count, columns], "latents")?;
        let values = input(latents, n, "latents")?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FfiError::invalid("latents contain NaN or infinite values"));
        }
        let w = model.config().window;
        disjoint((latents, n), (windows.cast_const(), count * w * w), "latents and windows")?;
        let out = output(windows, capacity, count * w * w, "windows")?;
        let z = ndarray::Array2::from_shape_vec((count, columns), values.to_vec()).expect("checked length");
        let decoded = model.decode(&z, with_pose)?;
        out.copy_from_slice(decoded.as_slice().expect("contiguous"));
        Ok(())
    })
}

/// Windows decoded on an n × n grid of the first two content latents (rows: z2,
/// columns: z1, at the 5–95 % quantiles of the prior): n × n × window × window
/// values.
#[ffi_export]
pub unsafe fn atomvae_rvae_manifold(
    rvae: Option<&AtomvaeRvae>,
    n: usize,
    windows: *mut f32,
    capacity: usize,
) -> AtomvaeStatus {
    guarded(|| {
        let model = model_of(rvae)?;
        if !(2..=64).contains(&n) {
            return Err(FfiError::invalid(format!("manifold grid of {n} per side: use 2–64")));
        }
        let w = model.config().window;
        let out = output(windows, capacity, n * n * w * w, "windows")?;
        let (grid, _) = model.manifold(n)?;
        out.copy_from_slice(grid.as_slice().expect("contiguous"));
        Ok(())
    })
}

/// Windows of window × window px around `count` centres (y, x pairs in px) of a
/// height × width image, into count × window × window values. Centres are
/// rounded to the nearest pixel, or interpolated with `bilinear`; windows that
/// cross the image edge are completed with zeros.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_cut_windows(
    image: *const f32,
    height: usize,
    width: usize,
    centres: *const f32,
    count: usize,
    window: usize,
    bilinear: bool,
    windows: *mut f32,
    capacity: usize,
) -> AtomvaeStatus {
    guarded(|| {
        let n = shape_len(&[height, width], "image")?;
        let pixels = input(image, n, "image")?;
        if !(1..=512).contains(&window) {
            return Err(FfiError::invalid(format!("window of {window} px: use 1–512")));
        }
        let centres =
            input(centres, count.checked_mul(2).ok_or_else(|| FfiError::invalid("too many centres"))?, "centres")?;
        if centres.iter().any(|v| !v.is_finite()) {
            return Err(FfiError::invalid("centres contain NaN or infinite values"));
        }
        disjoint((image, n), (windows.cast_const(), count * window * window), "image and windows")?;
        disjoint(
            (centres.as_ptr(), centres.len()),
            (windows.cast_const(), count * window * window),
            "centres and windows",
        )?;
        let out = output(windows, capacity, count * window * window, "windows")?;
        let view = ArrayView2::from_shape((height, width), pixels).expect("checked length");
        let centring = if bilinear { crate::subimages::Centring::Bilinear } else { crate::subimages::Centring::Round };
        for (k, yx) in centres.chunks(2).enumerate() {
            let cut = crate::subimages::cut_window(
                view,
                f64::from(yx[0]),
                f64::from(yx[1]),
                window,
                centring,
                crate::subimages::EdgePolicy::Pad,
            )
            .ok_or_else(|| FfiError::invalid(format!("centre {k} ({}, {}) is outside the image", yx[0], yx[1])))?;
            out[k * window * window..(k + 1) * window * window].copy_from_slice(cut.as_slice().expect("contiguous"));
        }
        Ok(())
    })
}
