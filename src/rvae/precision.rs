//! The arithmetic of the decoder's per-pixel layers (where the rVAE spends nearly
//! all its FLOPs): f32, or bf16 activations and products with f32 master weights.
//! `Auto` takes whichever a short timed probe finds faster on this CPU: no rule on
//! CPU flags holds everywhere (bf16 was 3.5× faster than f32 on an AMD EPYC with
//! AVX-512 BF16, and 1.5× slower on an Intel Xeon with the same flag and no AMX).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Arithmetic of the decoder's per-pixel layers during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// On a CPU, the faster of f32 and bf16 as timed on this machine ([`cpu_probe`]);
    /// f32 on other devices.
    #[default]
    Auto,
    Fp32,
    /// bf16 activations and matrix products with f32 weights, loss and optimiser.
    Bf16,
}

/// True when this CPU multiplies bf16 natively (Linux: from /proc/cpuinfo). The
/// environment variable `ATOMVAE_NO_BF16` (any value) says no, for comparisons.
pub fn cpu_has_native_bf16() -> bool {
    if std::env::var_os("ATOMVAE_NO_BF16").is_some() {
        return false;
    }
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().any(|l| l.starts_with("flags") && (l.contains(" amx_bf16") || l.contains(" avx512_bf16"))))
        .unwrap_or(false)
}

impl Precision {
    pub fn kind_for(self, device: Device) -> Kind {
        match self {
            Self::Fp32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
            Self::Auto if device == Device::Cpu => cpu_probe().choice,
            Self::Auto => Kind::Float,
        }
    }
}

/// What the probe measured: the best time of each arithmetic on the workload of
/// one training step of the decoder's per-pixel layers, and the choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeResult {
    pub f32_seconds: f64,
    /// `None` when bf16 was not timed (no native bf16 in the CPU flags: emulated
    /// bf16 is always slower).
    pub bf16_seconds: Option<f64>,
    pub choice: Kind,
}

/// bf16 must win by this factor: a tie goes to f32, the reference arithmetic.
const BF16_MARGIN: f64 = 1.15;

/// The timed probe, run once per process (~0.2 s) on the threads libtorch uses then.
pub fn cpu_probe() -> ProbeResult {
    static RESULT: OnceLock<ProbeResult> = OnceLock::new();
    *RESULT.get_or_init(|| {
        let f32_only = |f32_seconds| ProbeResult { f32_seconds, bf16_seconds: None, choice: Kind::Float };
        if !cpu_has_native_bf16() {
            return f32_only(f64::NAN);
        }
        let (mut best_f32, mut best_bf16) = (Duration::MAX, Duration::MAX);
        // Alternating repeats, best of each: a burst of load hits both alike.
        for _ in 0..4 {
            best_f32 = best_f32.min(time_decoder_step(Kind::Float));
            best_bf16 = best_bf16.min(time_decoder_step(Kind::BFloat16));
        }
        let (f, b) = (best_f32.as_secs_f64(), best_bf16.as_secs_f64());
        let choice = if f > BF16_MARGIN * b { Kind::BFloat16 } else { Kind::Float };
        log::info!("precision probe: f32 {:.1} ms, bf16 {:.1} ms per decoder step → {choice:?}", f * 1e3, b * 1e3);
        ProbeResult { f32_seconds: f, bf16_seconds: Some(b), choice }
    })
}

/// One forward and backward pass of two 128-wide per-pixel layers on 32 windows of
/// 32² px, the way the decoder computes them (weights cast to the compute type).
fn time_decoder_step(kind: Kind) -> Duration {
    let rows = 32 * 32 * 32;
    let opts = (Kind::Float, Device::Cpu);
    let x = Tensor::rand([rows, 128], opts).to_kind(kind);
    let w1 = (Tensor::rand([128, 128], opts) * 0.1).set_requires_grad(true);
    let w2 = (Tensor::rand([128, 128], opts) * 0.1).set_requires_grad(true);
    let start = Instant::now();
    let h = x.linear::<Tensor>(&w1.to_kind(kind), None).tanh();
    let out = h.linear::<Tensor>(&w2.to_kind(kind), None).tanh();
    out.to_kind(Kind::Float).sum(Kind::Float).backward();
    start.elapsed()
}
