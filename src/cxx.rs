//! The C++ facade (cxx): the same models as the C ABI, as C++ RAII objects
//! (`rust::Box`) whose failures are C++ exceptions (`rust::Error`, carrying the
//! message) and whose buffers are slices in and vectors out. The header
//! include/atomvae.hpp wraps it with std::vector conveniences. No science here:
//! each function calls `segment` or `rvae`, and panics become errors too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use ndarray::{ArrayView2, ArrayView3};

#[cxx::bridge(namespace = "atomvae")]
mod bridge {
    extern "Rust" {
        /// A segmentation model.
        type Segmenter;
        /// A rotationally invariant VAE.
        type Rvae;

        /// The library version.
        fn version() -> String;
        /// The embedded segmentation model on `device` ("auto", "cpu" or "cuda").
        fn segmenter_embedded(device: &str) -> Result<Box<Segmenter>>;
        /// Classes the model predicts (background first).
        fn classes(self: &Segmenter) -> usize;
        /// Class probabilities (classes × height × width) of one frame.
        fn segment(self: &Segmenter, frame: &[f32], height: usize, width: usize, pixel_size: f64) -> Result<Vec<f32>>;

        /// Trains an rVAE on windows (count × window × window values).
        fn rvae_train(
            windows: &[f32],
            window: usize,
            epochs: usize,
            learning_rate: f64,
            seed: u64,
            device: &str,
        ) -> Result<Box<Rvae>>;
        /// An rVAE from a model file.
        fn rvae_load(path: &str, device: &str) -> Result<Box<Rvae>>;
        /// Writes the model to a file (atomically).
        fn save(self: &Rvae, path: &str) -> Result<()>;
        /// Window edge (px).
        fn window(self: &Rvae) -> usize;
        /// Latent columns: angle, dx, dy, z1, z2…
        fn latent_columns(self: &Rvae) -> usize;
        /// Posterior means (count × latent_columns) of windows.
        fn encode(self: &Rvae, windows: &[f32]) -> Result<Vec<f32>>;
        /// Windows (count × window × window) from latent rows of `columns` values.
        fn decode(self: &Rvae, latents: &[f32], columns: usize, with_pose: bool) -> Result<Vec<f32>>;
    }
}

/// Each object guards its model with a mutex, as the C ABI's handles do: one
/// object may be used from any thread, its calls run one at a time.
pub struct Segmenter(Mutex<crate::segment::Segmenter>);
pub struct Rvae(Mutex<crate::rvae::Rvae>);

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A body's error, or its panic, as the message of a C++ exception.
fn caught<T>(body: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| {
        let what = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("internal error: {}", what.unwrap_or_else(|| "unknown panic".into())))
    })
}

fn device(name: &str) -> Result<tch::Device, String> {
    let choice: crate::device::DeviceChoice = name.parse().map_err(|e: crate::device::DeviceError| e.to_string())?;
    choice.resolve().map_err(|e| e.to_string())
}

fn version() -> String {
    crate::VERSION.to_string()
}

fn segmenter_embedded(name: &str) -> Result<Box<Segmenter>, String> {
    caught(|| {
        let model = crate::segment::Segmenter::embedded(device(name)?).map_err(|e| e.to_string())?;
        Ok(Box::new(Segmenter(Mutex::new(model))))
    })
}

impl Segmenter {
    fn classes(&self) -> usize {
        locked(&self.0).config().class_names.len()
    }

    fn segment(&self, frame: &[f32], height: usize, width: usize, pixel_size: f64) -> Result<Vec<f32>, String> {
        caught(|| {
            let view = ArrayView2::from_shape((height, width), frame)
                .map_err(|_| format!("{} values are not a {height}×{width} frame", frame.len()))?;
            let p = locked(&self.0).predict(view, pixel_size).map_err(|e| e.to_string())?;
            Ok(p.into_raw_vec_and_offset().0)
        })
    }
}

fn rvae_train(
    windows: &[f32],
    window: usize,
    epochs: usize,
    learning_rate: f64,
    seed: u64,
    device_name: &str,
) -> Result<Box<Rvae>, String> {
    caught(|| {
        let w2 = window.checked_mul(window).filter(|&p| p > 0).ok_or("window must be at least 1 px")?;
        if windows.is_empty() || windows.len() % w2 != 0 {
            return Err(format!("{} values are not whole {window}×{window} windows", windows.len()));
        }
        let view = ArrayView3::from_shape((windows.len() / w2, window, window), windows).expect("checked length");
        let config = crate::rvae::RvaeConfig { window, ..Default::default() };
        let mut model = crate::rvae::Rvae::new_seeded(config, device(device_name)?, seed).map_err(|e| e.to_string())?;
        let train = crate::rvae::RvaeTrainConfig { epochs, learning_rate, seed, ..Default::default() };
        crate::rvae::train_rvae(&mut model, view, &train, &mut crate::progress::Silent).map_err(|e| e.to_string())?;
        Ok(Box::new(Rvae(Mutex::new(model))))
    })
}

fn rvae_load(path: &str, device_name: &str) -> Result<Box<Rvae>, String> {
    caught(|| {
        let stored =
            crate::store::load_model_file(std::path::Path::new(path), None, Some("rvae")).map_err(|e| e.to_string())?;
        let model = crate::rvae::Rvae::from_stored(&stored, device(device_name)?).map_err(|e| e.to_string())?;
        Ok(Box::new(Rvae(Mutex::new(model))))
    })
}

impl Rvae {
    fn save(&self, path: &str) -> Result<(), String> {
        caught(|| {
            crate::store::save_model_file(std::path::Path::new(path), "rvae", &locked(&self.0).to_stored())
                .map_err(|e| e.to_string())
        })
    }

    fn window(&self) -> usize {
        locked(&self.0).config().window
    }

    fn latent_columns(&self) -> usize {
        locked(&self.0).config().latent_names().len()
    }

    fn encode(&self, windows: &[f32]) -> Result<Vec<f32>, String> {
        caught(|| {
            let w = self.window();
            if windows.is_empty() || windows.len() % (w * w) != 0 {
                return Err(format!("{} values are not whole {w}×{w} windows", windows.len()));
            }
            let view = ArrayView3::from_shape((windows.len() / (w * w), w, w), windows).expect("checked length");
            let latents = locked(&self.0).encode(view).map_err(|e| e.to_string())?;
            Ok(latents.mean.into_raw_vec_and_offset().0)
        })
    }

    fn decode(&self, latents: &[f32], columns: usize, with_pose: bool) -> Result<Vec<f32>, String> {
        caught(|| {
            if columns == 0 || latents.len() % columns != 0 {
                return Err(format!("{} values are not rows of {columns}", latents.len()));
            }
            let z = ndarray::Array2::from_shape_vec((latents.len() / columns, columns), latents.to_vec())
                .expect("checked length");
            Ok(locked(&self.0).decode(&z, with_pose).map_err(|e| e.to_string())?.into_raw_vec_and_offset().0)
        })
    }
}
