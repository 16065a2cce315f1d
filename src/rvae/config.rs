//! The rVAE's architecture and loss weights (the paper's Methods "rVAE"; AtomAI's
//! defaults: 2 encoder and 2 decoder layers of 128, k = 2 content latents).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// Fully connected layers with tanh (the paper's setting for probability maps).
    #[default]
    Mlp,
    /// Two stride-2 convolutions (16, 32 filters) for raw windows.
    Conv,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RvaeConfig {
    /// Window edge (px).
    pub window: usize,
    /// Content latents k.
    pub latent_dim: usize,
    pub hidden: i64,
    pub encoder: EncoderKind,
    pub encoder_layers: usize,
    /// Hidden 128×128 layers of the decoder after the coordinate+latent layer.
    pub decoder_layers: usize,
    /// Only the disc inscribed in the window is encoded and reconstructed: a turn
    /// of the decoder's grid then never needs content from outside the window,
    /// so a motif and the same motif turned are reconstructed equally well.
    pub disc: bool,
    /// Whether the angle γ is a latent; without it and without translation the
    /// model is the paper's plain VAE baseline (same MLPs, no pose).
    pub rotation: bool,
    /// Prior width s_γ of the rotation (rad).
    pub rotation_prior: f64,
    /// Whether (dx, dy) are latents.
    pub translation: bool,
    /// Scale of the translation latents on the [−1, 1] grid.
    pub translation_prior: f64,
    /// Factor on the decoder's coordinates (the window spans [−s, s]² at its first
    /// layer): the same functions as s = 1, but a coordinate MLP learns a lattice
    /// of several periods per window far sooner when its first layer starts with
    /// (and moves at) the frequencies of that lattice (1 = AtomAI's grid).
    pub coordinate_scale: f64,
    /// Weights of the KL terms (content+translation, rotation); 1 = the ELBO.
    pub kl_weight: f64,
    pub rotation_kl_weight: f64,
    /// How the weights were made, if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

impl Default for RvaeConfig {
    fn default() -> Self {
        Self {
            window: 32,
            latent_dim: 2,
            hidden: 128,
            encoder: EncoderKind::Mlp,
            encoder_layers: 2,
            decoder_layers: 2,
            disc: false,
            rotation: true,
            rotation_prior: 0.1,
            translation: true,
            translation_prior: 0.1,
            coordinate_scale: 1.0,
            kl_weight: 1.0,
            rotation_kl_weight: 1.0,
            training: None,
        }
    }
}

impl RvaeConfig {
    /// Names of the latent columns: angle, dx, dy, z1 … zk.
    pub fn latent_names(&self) -> Vec<String> {
        let mut v = vec!["angle".to_string(), "dx".into(), "dy".into()];
        v.extend((1..=self.latent_dim).map(|i| format!("z{i}")));
        v
    }
}

/// Floating-point operations of one training step per window (forward and
/// backward; a multiply-add counts 2), for comparing throughput with the machine's
/// peak. Matrix products only: the activations and the loss are a few per cent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingFlops {
    /// The decoder's per-pixel layers (coordinates → hidden → … → intensity) over
    /// the pixels a pass reconstructs (w², or the disc's): nearly all the work.
    pub decoder_per_pixel: f64,
    /// The encoder and the latents' share of the decoder's first layer.
    pub per_window: f64,
}

impl TrainingFlops {
    pub fn total(&self) -> f64 {
        self.decoder_per_pixel + self.per_window
    }
}

impl RvaeConfig {
    /// Pixels a training pass decodes: the whole window, or the grid points of
    /// its inscribed disc (|(x, y)| ≤ 1 on the [−1, 1]² grid) for a disc model.
    pub fn decoded_pixels(&self) -> usize {
        let w = self.window;
        if !self.disc {
            return w * w;
        }
        let at = |i: usize| if w > 1 { -1.0 + 2.0 * i as f64 / (w - 1) as f64 } else { 0.0 };
        (0..w * w).filter(|&p| at(p / w).powi(2) + at(p % w).powi(2) <= 1.0).count()
    }

    /// FLOPs of training on one window. A layer costs its product forward, and two
    /// more backward (the gradient of its input and of its weights), except the
    /// encoder's first layer, whose input (the window) needs no gradient. An MLP
    /// encoder is counted (a conv encoder is counted as the MLP of the same size).
    pub fn training_flops_per_window(&self) -> TrainingFlops {
        let (h, pixels) = (self.hidden as f64, (self.window * self.window) as f64);
        let k = self.latent_dim as f64;
        let out = 3.0 + k;
        let decoder_macs_per_pixel = 2.0 * h + self.decoder_layers as f64 * h * h + h;
        let decoder_per_pixel = 2.0 * 3.0 * decoder_macs_per_pixel * self.decoded_pixels() as f64;
        let first = pixels * h;
        let rest = self.encoder_layers.saturating_sub(1) as f64 * h * h + 2.0 * h * out + k * h;
        let per_window = 2.0 * (2.0 * first + 3.0 * rest);
        TrainingFlops { decoder_per_pixel, per_window }
    }
}
