//! The terms of the negative ELBO (the module comment of `rvae` gives the formula):
//! the Gaussian KL of the content and shift latents and the spread-only KL of the
//! rotation, and their per-window means.

use serde::Serialize;
use tch::Tensor;

/// The terms of −ELBO averaged over windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ElboTerms {
    pub neg_elbo: f64,
    pub reconstruction: f64,
    pub kl_content: f64,
    pub kl_translation: f64,
    pub kl_rotation: f64,
}

impl ElboTerms {
    /// Means from sums over `n` windows ([−ELBO, reconstruction, KL z, KL shift, KL rot]).
    pub fn from_sums(sums: &[f64; 5], n: usize) -> Self {
        let n = n.max(1) as f64;
        Self {
            neg_elbo: sums[0] / n,
            reconstruction: sums[1] / n,
            kl_content: sums[2] / n,
            kl_translation: sums[3] / n,
            kl_rotation: sums[4] / n,
        }
    }
}

/// KL(N(μ, σ²) ‖ N(0, 1)) summed over the columns: Σ (−log σ + ½σ² + ½μ² − ½).
pub fn gaussian_kl(mean: &Tensor, logsd: &Tensor) -> Tensor {
    (-logsd + (logsd * 2.0).exp() * 0.5 + mean.square() * 0.5 - 0.5).sum_dim_intlist(1, false, mean.kind())
}

/// KL of the rotation posterior against a prior of width `prior` centred on its own
/// mean: −log σ_γ + log s_γ + σ_γ²/(2 s_γ²) − ½ (only the spread is penalised).
pub fn rotation_kl(logsd: &Tensor, prior: f64) -> Tensor {
    -logsd + prior.ln() + (logsd * 2.0).exp() / (2.0 * prior * prior) - 0.5
}
