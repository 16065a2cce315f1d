//! The ABI's calls that take or give JSON text: settings that can grow without
//! changing a C signature (a missing field keeps its preset's value, an unknown
//! one is refused), model descriptions, and the whole contents of an analysis
//! file read by HDF5 path. Text and bytes go out through the same rule as every
//! other buffer: `*length` always receives the full size (text: bytes including
//! the NUL), and a buffer smaller than that gets `BufferTooSmall` and nothing.

use ndarray::ArrayView3;
use safer_ffi::prelude::*;
use std::ffi::c_void;

use super::analysis::AtomvaeAnalysis;
use super::handles::{
    input, locked, shape_len, with_segmenter, AtomvaeProgressFn, AtomvaeRvae, AtomvaeSegmenter, CallbackProgress,
};
use super::{guarded, AtomvaeDevice, AtomvaeStatus, FfiError};
use crate::pipeline::AnalyzeSettings;
use crate::rvae::Rvae;

/// Copies `bytes` to a caller's buffer after setting `*length` to their number.
pub(super) fn bytes_out(
    bytes: &[u8],
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> Result<(), FfiError> {
    let length = length.ok_or_else(|| FfiError::invalid("length is NULL"))?;
    *length = bytes.len();
    let out = super::handles::output(buffer, capacity, bytes.len(), "buffer")?;
    out.copy_from_slice(bytes);
    Ok(())
}

/// `text` NUL-terminated into a caller's buffer (`*length` counts the NUL).
fn text_out(text: &str, buffer: *mut u8, capacity: usize, length: Option<&mut usize>) -> Result<(), FfiError> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(0);
    bytes_out(&bytes, buffer, capacity, length)
}

fn settings_of(json: Option<char_p::Ref<'_>>) -> Result<AnalyzeSettings, FfiError> {
    let text = json.map_or("{}", |t| t.to_str());
    AnalyzeSettings::from_json(text).map_err(|e| FfiError::invalid(e.to_string()))
}

/// The full settings of the pipeline (`atoms`, `windows`, `rvae`, `training`,
/// `analysis`) as JSON for the preset `preset` ("recipe", the default when NULL,
/// or "paper"). Pass them back, changed or partial, to the `*_json` calls.
#[ffi_export]
pub unsafe fn atomvae_settings_json(
    preset: Option<char_p::Ref<'_>>,
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let name = preset.map_or("recipe", |p| p.to_str());
        let settings = AnalyzeSettings::preset(name).map_err(|e| FfiError::invalid(e.to_string()))?;
        let text = serde_json::to_string(&settings).map_err(|e| FfiError::invalid(e.to_string()))?;
        text_out(&text, buffer, capacity, length)
    })
}

/// Like `atomvae_rvae_train`, with settings as JSON (`settings_json` NULL: the
/// "recipe" preset): its `rvae` and `training` parts are used, e.g.
/// `{"preset": "paper", "training": {"epochs": 5, "seed": 3}}`. The window
/// edge comes from `window`.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_rvae_train_json(
    windows: *const f32,
    count: usize,
    window: usize,
    settings_json: Option<char_p::Ref<'_>>,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
    out: Option<&mut Option<repr_c::Box<AtomvaeRvae>>>,
) -> AtomvaeStatus {
    guarded(|| {
        let out = out.ok_or_else(|| FfiError::invalid("the output handle pointer is NULL"))?;
        let settings = settings_of(settings_json)?;
        let n = shape_len(&[count, window, window], "windows")?;
        let values = input(windows, n, "windows")?;
        let device = device.resolve()?;
        let config = crate::rvae::RvaeConfig { window, ..settings.rvae };
        let mut model = Rvae::new_seeded(config, device, settings.training.seed)?;
        let view = ArrayView3::from_shape((count, window, window), values).expect("checked length");
        let mut reporter = CallbackProgress::new(progress, user_data);
        let report = crate::rvae::train_rvae(&mut model, view, &settings.training, &mut reporter)?;
        let report = serde_json::to_value(&report).ok();
        *out = Some(Box::new(AtomvaeRvae::new(model, report)).into());
        Ok(())
    })
}

/// The model's configuration as JSON: `{"config": {…}, "training": {…} | null}`
/// (`training`: the epochs' −ELBO terms and speed, for a model trained in this
/// process).
#[ffi_export]
pub unsafe fn atomvae_rvae_config_json(
    rvae: Option<&AtomvaeRvae>,
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let rvae = rvae.ok_or_else(|| FfiError::invalid("rvae is NULL"))?;
        let config =
            serde_json::to_value(locked(rvae.model()).config()).map_err(|e| FfiError::invalid(e.to_string()))?;
        let text = serde_json::json!({ "config": config, "training": rvae.report() }).to_string();
        text_out(&text, buffer, capacity, length)
    })
}

/// The segmentation model's configuration as JSON (class names, working pixel
/// size, architecture, how it was trained).
#[ffi_export]
pub unsafe fn atomvae_segmenter_config_json(
    segmenter: Option<&AtomvaeSegmenter>,
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let segmenter = segmenter.ok_or_else(|| FfiError::invalid("segmenter is NULL"))?;
        let text =
            serde_json::to_string(locked(segmenter.model()).config()).map_err(|e| FfiError::invalid(e.to_string()))?;
        text_out(&text, buffer, capacity, length)
    })
}

/// Like `atomvae_analyze_movie`, with every step's settings as JSON
/// (`settings_json` NULL: the "recipe" preset; see `atomvae_settings_json`).
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_analyze_movie_json(
    movie_path: Option<char_p::Ref<'_>>,
    out_path: Option<char_p::Ref<'_>>,
    pixel_size: f64,
    settings_json: Option<char_p::Ref<'_>>,
    segmenter: Option<&AtomvaeSegmenter>,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> AtomvaeStatus {
    guarded(|| {
        let settings = settings_of(settings_json)?;
        super::analysis::analyze(movie_path, out_path, pixel_size, &settings, segmenter, device, progress, user_data)
    })
}

/// Everything an analysis file holds, as JSON: `{"attributes": {…}, "groups":
/// [{"path", "attributes"}], "datasets": [{"path", "dtype", "shape",
/// "attributes"}]}` (dtype: numpy's name, e.g. "float32"; string attributes that
/// hold JSON are left as strings).
#[ffi_export]
pub unsafe fn atomvae_analysis_contents_json(
    analysis: Option<&AtomvaeAnalysis>,
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let file = locked(analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?.file());
        text_out(&file.contents()?.to_string(), buffer, capacity, length)
    })
}

/// The dataset at `path` (as listed by `atomvae_analysis_contents_json`, e.g.
/// "/latents/mean") whole: little-endian bytes of its element type, row-major;
/// `*length` receives the number of bytes.
#[ffi_export]
pub unsafe fn atomvae_analysis_read(
    analysis: Option<&AtomvaeAnalysis>,
    path: Option<char_p::Ref<'_>>,
    buffer: *mut u8,
    capacity: usize,
    length: Option<&mut usize>,
) -> AtomvaeStatus {
    guarded(|| {
        let path = path.ok_or_else(|| FfiError::invalid("path is NULL"))?.to_str();
        let file = locked(analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?.file());
        let raw = file.read_raw(path)?;
        bytes_out(&raw.bytes, buffer, capacity, length)
    })
}

/// Runs one pipeline step on an open analysis file: `step` is "segment",
/// "atoms", "subimages", "train-rvae", "encode" or "analysis" (each needs the
/// ones before), with its part of `settings_json` (NULL: the "recipe" preset).
/// "segment" uses `segmenter` (NULL: the embedded model). Each step replaces its
/// results (and the file atomically); a failed or cancelled step leaves the file
/// as it was.
#[ffi_export]
#[allow(clippy::too_many_arguments)]
pub unsafe fn atomvae_analysis_run(
    analysis: Option<&AtomvaeAnalysis>,
    step: Option<char_p::Ref<'_>>,
    settings_json: Option<char_p::Ref<'_>>,
    segmenter: Option<&AtomvaeSegmenter>,
    device: AtomvaeDevice,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> AtomvaeStatus {
    guarded(|| {
        let analysis = analysis.ok_or_else(|| FfiError::invalid("analysis is NULL"))?;
        let step = step.ok_or_else(|| FfiError::invalid("step is NULL"))?.to_str();
        let step = crate::pipeline::Step::from_name(step).map_err(|e| FfiError::invalid(e.to_string()))?;
        let settings = settings_of(settings_json)?;
        let device = device.resolve()?;
        let mut file = locked(analysis.file());
        let mut reporter = CallbackProgress::new(progress, user_data);
        with_segmenter(segmenter, device, |model| {
            crate::pipeline::run_step(&mut file, step, &settings, model, device, &mut reporter)?;
            Ok(())
        })
    })
}

/// A simulated movie of Si-doped graphene with its ground truth into `out_path`
/// (`.h5`, itself an analysis file ready for every step; or `.npy`/`.tif`).
/// `settings_json` (NULL: defaults) may hold `"simulation"` (frame size, pixel
/// size, holes, dopants, dose …) and `"movie"` (frames, dynamics) objects; unknown
/// fields are refused. Cancelling leaves nothing at `out_path`.
#[ffi_export]
pub unsafe fn atomvae_simulate_movie(
    settings_json: Option<char_p::Ref<'_>>,
    seed: u64,
    out_path: Option<char_p::Ref<'_>>,
    progress: AtomvaeProgressFn,
    user_data: *mut c_void,
) -> AtomvaeStatus {
    #[derive(serde::Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Simulation {
        simulation: crate::sim::SimParams,
        movie: crate::sim::MovieParams,
    }
    guarded(|| {
        let out = super::handles::path_of(out_path)?;
        let text = settings_json.map_or("{}", |t| t.to_str());
        let settings: Simulation =
            serde_json::from_str(text).map_err(|e| FfiError::invalid(format!("simulation settings: {e}")))?;
        let mut reporter = CallbackProgress::new(progress, user_data);
        crate::pipeline::simulate_movie(&settings.simulation, &settings.movie, seed, &out, &mut reporter)?;
        Ok(())
    })
}
