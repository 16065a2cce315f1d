//! Using a trained rVAE: encoding windows into latents (the paper's Figs. 5–7 read
//! them), decoding latent vectors into windows, and the latent manifold (Fig. 5C/F).

use ndarray::{Array2, Array3, Array4, ArrayView3};
use tch::{Kind, Tensor};

use super::{transform_grid, InferenceWeights, Rvae, RvaeError};

/// Encodings of windows: (N, 3 + k) means and log-variances, columns as `names`.
#[derive(Debug, Clone, PartialEq)]
pub struct Latents {
    pub mean: Array2<f32>,
    pub logvar: Array2<f32>,
    pub names: Vec<String>,
}

impl Latents {
    /// Rows of `parts` one after the other (all from the same model); parts whose
    /// columns differ are refused rather than dropped.
    pub fn concatenate(parts: Vec<Latents>) -> Result<Latents, RvaeError> {
        let names = parts.first().map(|p| p.names.clone()).unwrap_or_default();
        if let Some(odd) = parts.iter().find(|p| p.names != names || p.mean.dim() != p.logvar.dim()) {
            return Err(RvaeError::BadInput(format!(
                "latents with columns {:?} cannot follow latents with columns {names:?}",
                odd.names
            )));
        }
        let stack = |pick: fn(&Latents) -> ndarray::ArrayView2<f32>| {
            let views: Vec<_> = parts.iter().map(pick).collect();
            if views.is_empty() {
                return Ok(Array2::zeros((0, names.len())));
            }
            ndarray::concatenate(ndarray::Axis(0), &views)
                .map_err(|e| RvaeError::BadInput(format!("latents of different widths: {e}")))
        };
        Ok(Latents { mean: stack(|l| l.mean.view())?, logvar: stack(|l| l.logvar.view())?, names })
    }
}

/// Windows per encoder pass: big enough that per-call overheads vanish, small
/// enough that a block (8 MB of 32² windows) is still in cache when multiplied.
const BLOCK: usize = 2048;

/// Refuses a block of windows (`pixels` values each, the first numbered `first`)
/// with a NaN or infinite pixel, naming the window.
fn check_finite(block: &[f32], pixels: usize, first: usize) -> Result<(), RvaeError> {
    match block.chunks(pixels).position(|c| !c.iter().fold(true, |ok, v| ok & v.is_finite())) {
        Some(k) => Err(RvaeError::BadInput(format!("window {} has a NaN or infinite pixel", first + k))),
        None => Ok(()),
    }
}

/// The latents being filled block by block.
struct LatentRows {
    mean: Array2<f32>,
    logvar: Array2<f32>,
}

impl LatentRows {
    fn new(n: usize, model: &Rvae) -> Self {
        let cols = 3 + model.config.latent_dim;
        Self { mean: Array2::zeros((n, cols)), logvar: Array2::zeros((n, cols)) }
    }

    fn put(&mut self, start: usize, (mean, logvar): (Tensor, Tensor)) {
        let rows = start..start + mean.size()[0] as usize;
        copy_into(&mean, &mut self.mean.slice_mut(ndarray::s![rows.clone(), ..]));
        copy_into(&logvar, &mut self.logvar.slice_mut(ndarray::s![rows, ..]));
    }

    fn finish(self, model: &Rvae) -> Latents {
        Latents { mean: self.mean, logvar: self.logvar, names: model.config.latent_names() }
    }
}

/// A (rows, cols) tensor's values into a block of an array of the same shape.
fn copy_into(t: &Tensor, out: &mut ndarray::ArrayViewMut2<f32>) {
    let t = t.to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
    let values = Vec::<f32>::try_from(t.view([-1])).expect("f32 values");
    for (o, v) in out.iter_mut().zip(values) {
        *o = v;
    }
}

impl Rvae {
    /// Posterior means and log-variances of every window (batched, no gradient).
    ///
    /// On a CPU the windows are read where they are (no copy), a block at a time,
    /// and multiplied in the model's encoding arithmetic
    /// ([`Rvae::set_encode_precision`]); NaN and infinite pixels are refused, found
    /// by the first layer's sums rather than by reading every pixel twice.
    pub fn encode(&self, windows: ArrayView3<f32>) -> Result<Latents, RvaeError> {
        let (n, h, w) = self.check_shape(windows)?;
        let standard = windows.as_standard_layout();
        let flat = standard.as_slice().expect("a standard-layout array is contiguous");
        let pixels = h * w;
        let mut out = LatentRows::new(n, self);
        let weights = self.inference_weights();
        for start in (0..n).step_by(BLOCK) {
            let len = BLOCK.min(n - start);
            let block = &flat[start * pixels..(start + len) * pixels];
            // SAFETY: the tensor views `block` (no copy) and is dropped at the end of
            // this iteration, while `standard` is alive; nothing writes to it.
            let x = unsafe {
                Tensor::from_blob(
                    block.as_ptr().cast(),
                    &[len as i64, pixels as i64],
                    &[],
                    Kind::Float,
                    tch::Device::Cpu,
                )
            };
            // An MLP encoder checks its input on the way (see `forward_fast`); where
            // it did not, or found something, the pixels are read to say which.
            let (mean, logvar, finite) = self.encode_block(&x.to_device(self.device), weights.as_ref());
            if finite != Some(true) {
                check_finite(block, pixels, start)?;
            }
            if finite == Some(false) {
                return Err(RvaeError::BadInput(format!(
                    "windows {start}–{} hold values too large for the encoder (its first layer overflowed)",
                    start + len - 1
                )));
            }
            out.put(start, (mean, logvar));
        }
        Ok(out.finish(self))
    }

    /// As [`Rvae::encode`], on (N, w·w) windows already in a tensor (moved to the
    /// model's device when elsewhere); the values are not checked.
    pub fn encode_tensor(&self, x: &Tensor) -> Latents {
        let x = x.to_device(self.device);
        let n = x.size()[0] as usize;
        let mut out = LatentRows::new(n, self);
        let weights = self.inference_weights();
        for start in (0..n).step_by(BLOCK) {
            let len = BLOCK.min(n - start);
            let (mean, logvar, _) = self.encode_block(&x.narrow(0, start as i64, len as i64), weights.as_ref());
            out.put(start, (mean, logvar));
        }
        out.finish(self)
    }

    fn inference_weights(&self) -> Option<InferenceWeights> {
        tch::no_grad(|| self.encoder.inference_weights(self.disc.as_ref(), self.encode_kind))
    }

    /// One block through the encoder: posterior means and log-variances, and
    /// whether every pixel was finite where the encoder checked that.
    fn encode_block(&self, x: &Tensor, weights: Option<&InferenceWeights>) -> (Tensor, Tensor, Option<bool>) {
        tch::no_grad(|| {
            let (mean, logsd, finite) =
                self.encoder.forward_fast(x, self.config.window as i64, self.disc.as_ref(), weights);
            (mean, logsd * 2.0, finite)
        })
    }

    /// Decodes latent vectors into windows (N, w, w). Rows hold either the content
    /// latents only (k values: rendered upright and centred) or the full vector
    /// [angle, dx, dy, z…] (3 + k values); with `with_pose` false the angle and shift
    /// of full vectors are ignored. A disc model's windows are 0 outside the disc.
    pub fn decode(&self, latents: &Array2<f32>, with_pose: bool) -> Result<Array3<f32>, RvaeError> {
        let (n, cols) = latents.dim();
        let k = self.config.latent_dim;
        if cols != k && cols != k + 3 {
            return Err(RvaeError::BadInput(format!(
                "latent vectors of length {cols}; this model takes {k} (content) or {} (angle, dx, dy, content)",
                k + 3
            )));
        }
        if n == 0 {
            return Err(RvaeError::BadInput("no latent vectors".into()));
        }
        if latents.iter().any(|v| !v.is_finite()) {
            return Err(RvaeError::BadInput("latent vectors contain NaN or infinite values".into()));
        }
        let data: Vec<f32> = latents.iter().copied().collect();
        let z = Tensor::from_slice(&data).view([n as i64, cols as i64]).to_device(self.device);
        let full =
            if cols == k { Tensor::cat(&[Tensor::zeros([n as i64, 3], (Kind::Float, self.device)), z], 1) } else { z };
        let w = self.config.window;
        let out = tch::no_grad(|| {
            let (angle, shift, content) = self.pose_and_content(&full);
            let (angle, shift) = if with_pose { (angle, shift) } else { (angle.zeros_like(), None) };
            let coords = transform_grid(&self.grid, &angle, shift.as_ref());
            // A disc model learned nothing outside its disc: show nothing there.
            self.masked(&self.decoder.forward(&coords, &content).to_kind(Kind::Float))
        });
        let v = Vec::<f32>::try_from(out.to_device(tch::Device::Cpu).flatten(0, -1)).expect("f32");
        Ok(Array3::from_shape_vec((n, w, w), v).expect("shape"))
    }

    /// The latent manifold (paper Fig. 5C/F): windows decoded, upright and centred,
    /// on an n × n grid over (z₁, z₂) spanning the 5–95 % quantiles of N(0, 1);
    /// (n, n, w, w) with z₂ increasing down the rows and z₁ along the columns.
    pub fn manifold(&self, n: usize) -> Result<(Array4<f32>, Vec<f32>), RvaeError> {
        if self.config.latent_dim < 2 {
            return Err(RvaeError::BadInput("a 2-D manifold needs at least two content latents".into()));
        }
        if n < 2 {
            return Err(RvaeError::BadInput("the manifold grid needs n ≥ 2".into()));
        }
        let q = 1.6449f32; // Φ⁻¹(0.95)
        let axis: Vec<f32> = (0..n).map(|i| -q + 2.0 * q * i as f32 / (n - 1) as f32).collect();
        let k = self.config.latent_dim;
        let z = Array2::from_shape_fn((n * n, k), |(r, c)| match c {
            0 => axis[r % n],
            1 => axis[r / n],
            _ => 0.0,
        });
        let w = self.config.window;
        let flat = self.decode(&z, false)?;
        Ok((flat.into_shape_with_order((n, n, w, w)).expect("shape"), axis))
    }
}
