//! The paper's baselines of Fig. 5: a plain convolutional autoencoder (encoder:
//! 3×3 convolutions of 32 and 64 filters with stride 2 and ReLU, a dense latent of
//! 2; decoder: a dense layer and transposed convolutions back to the window; MSE;
//! Adam 1e-3) and a plain VAE — the rVAE's own MLPs with the angle and the shift
//! switched off ([`crate::rvae::RvaeConfig::rotation`] = false). Each gets a 2-D
//! manifold of decoded windows over its latent plane.

use ndarray::{Array2, Array4};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};

use super::AnalysisError;
use crate::progress::Progress;

pub const CONV_AE_KIND: &str = "conv-autoencoder";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvAeConfig {
    /// Window edge (px).
    pub window: usize,
    pub latent_dim: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for ConvAeConfig {
    fn default() -> Self {
        Self { window: 32, latent_dim: 2, epochs: 20, batch: 100, learning_rate: 1e-3, seed: 0 }
    }
}

/// The paper's convolutional autoencoder. Windows whose edge is not a multiple of
/// 4 are zero-padded at the bottom and right for the two stride-2 stages and the
/// output cropped back, so the loss covers exactly the window.
pub struct ConvAutoencoder {
    vs: nn::VarStore,
    encoder: nn::Sequential,
    to_latent: nn::Linear,
    from_latent: nn::Linear,
    decoder: nn::Sequential,
    config: ConvAeConfig,
    padded: i64,
}

impl ConvAutoencoder {
    pub fn new(config: ConvAeConfig, device: tch::Device) -> Result<Self, AnalysisError> {
        if !(8..=256).contains(&config.window) || config.latent_dim == 0 {
            return Err(AnalysisError::BadInput(format!("unusable autoencoder configuration {config:?}")));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let padded = config.window.div_ceil(4) as i64 * 4;
        let quarter = padded / 4;
        let conv =
            |p: nn::Path, i, o| nn::conv2d(p, i, o, 3, nn::ConvConfig { stride: 2, padding: 1, ..Default::default() });
        let deconv = |p: nn::Path, i, o| {
            nn::conv_transpose2d(
                p,
                i,
                o,
                3,
                nn::ConvTransposeConfig { stride: 2, padding: 1, output_padding: 1, ..Default::default() },
            )
        };
        let encoder = nn::seq()
            .add(conv(&root / "enc1", 1, 32))
            .add_fn(|x| x.relu())
            .add(conv(&root / "enc2", 32, 64))
            .add_fn(|x| x.relu())
            .add_fn(|x| x.flatten(1, -1));
        let to_latent =
            nn::linear(&root / "latent", 64 * quarter * quarter, config.latent_dim as i64, Default::default());
        let from_latent =
            nn::linear(&root / "unlatent", config.latent_dim as i64, 64 * quarter * quarter, Default::default());
        let decoder = nn::seq()
            .add_fn(move |x| x.relu().view([-1, 64, quarter, quarter]))
            .add(deconv(&root / "dec1", 64, 32))
            .add_fn(|x| x.relu())
            .add(deconv(&root / "dec2", 32, 1));
        crate::init::seeded_init(&vs, config.seed);
        Ok(Self { vs, encoder, to_latent, from_latent, decoder, config, padded })
    }

    pub fn config(&self) -> &ConvAeConfig {
        &self.config
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn pad(&self, x: &Tensor) -> Tensor {
        let w = self.config.window as i64;
        let extra = self.padded - w;
        let img = x.view([-1, 1, w, w]);
        if extra == 0 {
            img
        } else {
            img.constant_pad_nd([0, extra, 0, extra])
        }
    }

    /// Latents of (n, w·w) windows.
    pub fn encode_tensor(&self, x: &Tensor) -> Tensor {
        self.to_latent.forward(&self.encoder.forward(&self.pad(x)))
    }

    /// Windows (n, w·w) from latents (n, k).
    pub fn decode_tensor(&self, z: &Tensor) -> Tensor {
        let w = self.config.window as i64;
        let full = self.decoder.forward(&self.from_latent.forward(z));
        full.narrow(2, 0, w).narrow(3, 0, w).reshape([-1, w * w])
    }

    fn reconstruction_mse(&self, x: &Tensor) -> Tensor {
        (self.decode_tensor(&self.encode_tensor(x)) - x).square().mean(Kind::Float)
    }

    /// Mean squared reconstruction error per pixel over `x`, without gradients.
    pub fn mse(&self, x: &Tensor) -> f64 {
        tch::no_grad(|| {
            let n = x.size()[0];
            let mut total = 0.0;
            for start in (0..n).step_by(1000) {
                let len = 1000.min(n - start);
                total += self.reconstruction_mse(&x.narrow(0, start, len)).double_value(&[]) * len as f64;
            }
            total / n.max(1) as f64
        })
    }

    /// Decoded windows on an n × n grid spanning `range` in both latents:
    /// (n rows over z₂, n columns over z₁, w, w).
    pub fn manifold(&self, n: usize, range: [(f32, f32); 2]) -> Array4<f32> {
        let w = self.config.window;
        let axis = |(lo, hi): (f32, f32), i: usize| lo + (hi - lo) * i as f32 / (n.max(2) - 1) as f32;
        let z: Vec<f32> = (0..n * n)
            .flat_map(|r| {
                let mut v = vec![0.0; self.config.latent_dim];
                v[0] = axis(range[0], r % n);
                if v.len() > 1 {
                    v[1] = axis(range[1], r / n);
                }
                v
            })
            .collect();
        let z =
            Tensor::from_slice(&z).view([(n * n) as i64, self.config.latent_dim as i64]).to_device(self.vs.device());
        let out = tch::no_grad(|| self.decode_tensor(&z));
        let values = Vec::<f32>::try_from(out.to_device(tch::Device::Cpu).flatten(0, -1)).expect("f32");
        Array4::from_shape_vec((n, n, w, w), values).expect("manifold shape")
    }
}

/// Trains the autoencoder on (n, w·w) windows with Adam and MSE; returns the mean
/// training MSE per pixel after every epoch.
pub fn train_conv_ae(
    model: &mut ConvAutoencoder,
    x: &Tensor,
    progress: &mut dyn Progress,
) -> Result<Vec<f64>, AnalysisError> {
    let w = model.config.window as i64;
    if x.dim() != 2 || x.size()[1] != w * w || x.size()[0] == 0 {
        return Err(AnalysisError::BadInput(format!("expected (N ≥ 1, {}) windows, got {:?}", w * w, x.size())));
    }
    let cfg = model.config.clone();
    let mut opt =
        nn::Adam::default().build(&model.vs, cfg.learning_rate).map_err(|e| AnalysisError::BadInput(e.to_string()))?;
    let n = x.size()[0] as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<i64> = (0..n as i64).collect();
    let mut curve = Vec::with_capacity(cfg.epochs);
    progress.start("train conv autoencoder", (cfg.epochs * n) as u64);
    for _ in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(cfg.batch.max(1)) {
            if progress.cancelled() {
                progress.finish();
                return Err(AnalysisError::Cancelled);
            }
            let xb = x.index_select(0, &Tensor::from_slice(batch).to_device(x.device()));
            let loss = model.reconstruction_mse(&xb);
            opt.backward_step(&loss);
            total += loss.double_value(&[]) * batch.len() as f64;
            progress.advance(batch.len() as u64);
        }
        curve.push(total / n as f64);
        log::info!("conv autoencoder epoch {}/{}: MSE {:.5}", curve.len(), cfg.epochs, total / n as f64);
    }
    progress.finish();
    Ok(curve)
}

/// Latents of every row of `x` as an (n, k) array.
pub fn encode_all(model: &ConvAutoencoder, x: &Tensor) -> Array2<f32> {
    let n = x.size()[0];
    let parts: Vec<Tensor> =
        tch::no_grad(|| (0..n).step_by(2000).map(|s| model.encode_tensor(&x.narrow(0, s, 2000.min(n - s)))).collect());
    let z = Tensor::cat(&parts, 0).to_device(tch::Device::Cpu);
    let k = z.size()[1] as usize;
    Array2::from_shape_vec((n as usize, k), Vec::<f32>::try_from(z.flatten(0, -1)).expect("f32")).expect("shape")
}
